import { describe, expect, it } from 'vitest';
import { classifyDatabaseError, classifyDockerError, classifyRemoteCopyFailure, classifySshError, classifyStorageError } from '../../lib/clients/errors';
import { PERMANENT_FAILURES, TRANSIENT_FAILURES, nonRetryableErrorTypes } from '../../lib/contract/failures';

const s3Err = (name: string, status: number, headers: Record<string, string> = {}) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, $response: { headers } });

describe('error classification', () => {
  it.each([
    [classifyStorageError(s3Err('SlowDown', 503, { 'retry-after': '7' }), 'k'), 'StorageThrottled', false],
    [classifyStorageError(s3Err('NoSuchKey', 404), 'k'), 'ObjectNotFound', true],
    [classifyStorageError(s3Err('AccessDenied', 403), 'k'), 'StorageAccessDenied', true],
    [classifyStorageError(s3Err('InternalError', 500), 'k'), 'StorageUnavailable', false],
    [classifySshError(Object.assign(new Error('All configured authentication methods failed'), { level: 'client-authentication' }), 't'), 'SshAuthFailed', true],
    [classifySshError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 't'), 'SshUnreachable', false],
    [classifyDockerError(Object.assign(new Error('conflict'), { statusCode: 409 }), 'd'), 'DockerRequestRejected', true],
    [classifyDockerError(Object.assign(new Error('gone'), { code: 'ENOENT' }), 'd'), 'DockerUnavailable', false],
    [classifyDatabaseError(Object.assign(new Error('denied'), { code: 'ER_ACCESS_DENIED_ERROR' }), 'n'), 'DatabaseAuthFailed', true],
    [classifyDatabaseError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'n'), 'DatabaseUnavailable', false],
    [classifyDatabaseError(Object.assign(new Error('WSREP has not yet prepared node for application use'), { code: 'ER_UNKNOWN_COM_ERROR' }), 'n'), 'DatabaseUnavailable', false],
    // The server's own trouble with its files or resources passes: a retry of the same statement can succeed.
    [classifyDatabaseError(Object.assign(new Error(`Error on delete of '/tmp/#sql-temptable-15f3-484-19b3.MAI' (Errcode: 2 "No such file or directory")`), { code: 'ER_ERROR_ON_DELETE' }), 'n'), 'DatabaseUnavailable', false],
    [classifyDatabaseError(Object.assign(new Error('Too many connections'), { code: 'ER_CON_COUNT_ERROR' }), 'n'), 'DatabaseUnavailable', false],
    [classifyDatabaseError(Object.assign(new Error("You have an error in your SQL syntax"), { code: 'ER_PARSE_ERROR' }), 'n'), 'DatabaseQueryFailed', true],
  ])('%#: %s', (failure, type, nonRetryable) => {
    expect(failure.type).toBe(type);
    expect(failure.nonRetryable).toBe(nonRetryable);
  });

  it('a statement carrying a secret: classified as any other, the secret masked or only the code told, no cause kept', () => {
    const secret = 'Zq9-very-secret';
    const hidden = classifyDatabaseError(Object.assign(new Error(`Operation ALTER USER failed for 'u'@'%' (password '${secret}')`), { code: 'ER_CANNOT_USER' }), 'node1', { doing: "setting the site user's password", hide: secret });
    expect([hidden.type, hidden.message, hidden.cause]).toEqual(['DatabaseQueryFailed', "database node1: setting the site user's password failed: Operation ALTER USER failed for 'u'@'%' (password '********')", undefined]);
    const lost = classifyDatabaseError(Object.assign(new Error(`Deadlock found; hash *ABC123`), { code: 'ER_LOCK_DEADLOCK' }), 'node2', { doing: 'creating contractor user c1', codeOnly: true });
    expect([lost.type, lost.nonRetryable, lost.message, lost.cause]).toEqual(['DatabaseUnavailable', false, 'database node2 unavailable: creating contractor user c1 failed: (ER_LOCK_DEADLOCK)', undefined]);
  });

  it("a copy that lost the other host is SshUnreachable; any other copy failure is left as it was", () => {
    const lost = classifyRemoteCopyFailure(new Error('command on root@10.0.0.5:22 exited 255: rsync: connection unexpectedly closed (0 bytes received so far) [receiver]'), 'copying files from old:22') as { type?: string; nonRetryable?: boolean; message: string };
    expect([lost.type, lost.nonRetryable]).toEqual(['SshUnreachable', false]);
    expect(lost.message).toMatch(/^copying files from old:22 failed, the old host became unreachable: /);
    const other = new Error('command exited 23: rsync: [sender] send_files failed to open "/srv/a": Permission denied (13)');
    expect(classifyRemoteCopyFailure(other, 'copying')).toBe(other);
  });

  it('honours Retry-After on throttling', () => {
    expect(classifyStorageError(s3Err('SlowDown', 503, { 'retry-after': '7' }), 'k').nextRetryDelay).toBe(7000);
  });

  it('keeps permanent and transient types disjoint, and only permanent ones non-retryable', () => {
    expect(PERMANENT_FAILURES.filter((t) => (TRANSIENT_FAILURES as readonly string[]).includes(t))).toEqual([]);
    expect(nonRetryableErrorTypes.sort()).toEqual([...PERMANENT_FAILURES].sort());
  });
});
