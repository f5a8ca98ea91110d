import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv, servicesEnvSchema, temporalEnvSchema, workerEnvSchema } from '../../lib/env';
import { readDedupKey } from '../../lib/clients/deps';
import { envForQueue, metricsPort } from '../../workers/run-worker';
import { scratchDir } from '../helpers/scratch';

const complete = {
  DROVER_S3_ENDPOINT: 'http://127.0.0.1:17070',
  DROVER_S3_ACCESS_KEY_ID: 'k',
  DROVER_S3_SECRET_ACCESS_KEY: 's',
  DROVER_S3_BUCKET: 'drover-backups',
  DROVER_GALERA_NODES: '127.0.0.1:3306',
  DROVER_GALERA_USER: 'drover',
  DROVER_GALERA_PASSWORD: 'pw',
  DROVER_SSH_TARGET: 'root@127.0.0.1:22',
  DROVER_SSH_KEY_FILE: '/k',
  DROVER_DOCKER_HOST: 'unix:///var/run/docker.sock',
  DROVER_CODEC_KEYS: '/run/secrets/drover_codec_key_2026a',
  DROVER_CODEC_CURRENT_KEY: '2026a',
};

describe('environment parsing', () => {
  it('applies defaults and freezes the result', () => {
    const env = parseEnv(workerEnvSchema, complete);
    expect(env.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(env.TEMPORAL_NAMESPACE).toBe('default');
    expect(env.DROVER_S3_FORCE_PATH_STYLE).toBe(true);
    expect(env.DROVER_METRICS_PORT).toBeUndefined();
    expect(Object.isFrozen(env)).toBe(true);
  });

  it('names every missing variable at once', () => {
    const { DROVER_S3_BUCKET: _b, DROVER_GALERA_PASSWORD: _p, ...partial } = complete;
    const err = (() => {
      try {
        parseEnv(servicesEnvSchema, partial);
      } catch (e) {
        return e as EnvError;
      }
    })();
    expect(err).toBeInstanceOf(EnvError);
    expect(err!.issues).toEqual(
      expect.arrayContaining([
        { field: 'DROVER_S3_BUCKET', message: 'is not set' },
        { field: 'DROVER_GALERA_PASSWORD', message: 'is not set' },
      ]),
    );
    expect(err!.message).toContain('DROVER_S3_BUCKET: is not set');
  });

  it.each([
    ['DROVER_S3_ENDPOINT', 'not a url'],
    ['DROVER_S3_BUCKET', 'Bad_Bucket'],
    ['DROVER_S3_FORCE_PATH_STYLE', 'maybe'],
    ['DROVER_METRICS_PORT', '70000'],
    ['DROVER_SITE_HEALTH_INTERVAL', '30'],
    ['DROVER_SITE_HEALTH_INTERVAL', '0s'],
    ['DROVER_SITE_HEALTH_INTERVAL', '1m'],
    ['DROVER_SITE_HEALTH_INTERVAL', '1000s'],
    ['DROVER_STICKY_TIMEOUT_MS', '999'],
    ['DROVER_STICKY_TIMEOUT_MS', '2s'],
    ['DROVER_STICKY_TIMEOUT_MS', '600001'],
  ])('rejects a malformed %s (%j)', (field, value) => {
    expect(() => parseEnv(workerEnvSchema, { ...complete, [field]: value })).toThrow(new RegExp(field));
  });

  it('a Redis URL that does not parse is refused without repeating it (its password would reach the log)', () => {
    const url = 'redis://:s3cr/et@cache_redis-1:6379';
    let err: Error | undefined;
    try {
      parseEnv(workerEnvSchema, { ...complete, DROVER_REDIS_URL: url });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(/DROVER_REDIS_URL: not a valid URL/);
    expect(err?.message).not.toContain('s3cr');
    expect(parseEnv(workerEnvSchema, { ...complete, DROVER_REDIS_URL: 'redis://:s3cr%2Fet@cache_redis-1:6379' }).DROVER_REDIS_URL).toBe('redis://:s3cr%2Fet@cache_redis-1:6379');
  });

  it('a worker\'s sticky timeout: 10000 ms (Temporal\'s default) unless set, from 1000 to 600000', () => {
    expect(parseEnv(workerEnvSchema, complete).DROVER_STICKY_TIMEOUT_MS).toBe(10_000);
    expect(parseEnv(workerEnvSchema, { ...complete, DROVER_STICKY_TIMEOUT_MS: '2000' }).DROVER_STICKY_TIMEOUT_MS).toBe(2000);
  });

  it('a site\'s health interval: 30s unless set, in whole seconds from 1s to 999s', () => {
    expect(parseEnv(workerEnvSchema, complete).DROVER_SITE_HEALTH_INTERVAL).toBe('30s');
    expect(parseEnv(workerEnvSchema, { ...complete, DROVER_SITE_HEALTH_INTERVAL: '2s' }).DROVER_SITE_HEALTH_INTERVAL).toBe('2s');
    expect(parseEnv(workerEnvSchema, { ...complete, DROVER_SITE_HEALTH_INTERVAL: '999s' }).DROVER_SITE_HEALTH_INTERVAL).toBe('999s');
  });

  it.each([
    [{}, { infra: 9464, backup: 9466, restore: 9467 }],
    [{ DROVER_METRICS_PORT_INFRA: '9664', DROVER_METRICS_PORT_BACKUP: '9666', DROVER_METRICS_PORT_RESTORE: '9667' }, { infra: 9664, backup: 9666, restore: 9667 }],
    [{ DROVER_METRICS_PORT: '', DROVER_METRICS_PORT_BACKUP: '9700' }, { infra: 9464, backup: 9700, restore: 9467 }],
    [{ DROVER_METRICS_PORT: '0', DROVER_METRICS_PORT_INFRA: '9664' }, { infra: 0, backup: 0, restore: 0 }],
  ])('SDK metrics ports from %j: one per queue unless DROVER_METRICS_PORT sets this process\'s', (vars, ports) => {
    const env = parseEnv(workerEnvSchema, { ...complete, ...vars });
    expect({ infra: metricsPort('infra', env), backup: metricsPort('backup', env), restore: metricsPort('restore', env) }).toEqual(ports);
  });

  it('turns TLS on for an API key (Temporal Cloud) and accepts explicit false', () => {
    expect(parseEnv(temporalEnvSchema, { TEMPORAL_TLS: 'false' }).TEMPORAL_TLS).toBe(false);
    expect(parseEnv(temporalEnvSchema, { TEMPORAL_API_KEY: 'x' }).TEMPORAL_API_KEY).toBe('x');
  });
});

describe('secrets given as files (X_FILE, as Docker secrets are mounted)', () => {
  const dir = scratchDir('drover-env-');
  const file = path.join(dir, 'galera_password');
  writeFileSync(file, 'from-a-file\n');
  const { DROVER_GALERA_PASSWORD: _p, ...withoutPassword } = complete;

  it('reads the value from the file, without its trailing newline', () => {
    expect(parseEnv(workerEnvSchema, { ...withoutPassword, DROVER_GALERA_PASSWORD_FILE: file }).DROVER_GALERA_PASSWORD).toBe('from-a-file');
  });
  it('names the _FILE variable when its file is missing or the plain variable is set too', () => {
    expect(() => parseEnv(workerEnvSchema, { ...withoutPassword, DROVER_GALERA_PASSWORD_FILE: path.join(dir, 'nope') })).toThrow(/DROVER_GALERA_PASSWORD_FILE: .*nope does not exist/);
    expect(() => parseEnv(workerEnvSchema, { ...complete, DROVER_GALERA_PASSWORD_FILE: file })).toThrow(/DROVER_GALERA_PASSWORD_FILE: set together with DROVER_GALERA_PASSWORD/);
  });
});

describe('the backup identity per queue', () => {
  const withKey = parseEnv(workerEnvSchema, { ...complete, DROVER_BACKUP_AGE_IDENTITY_FILE: '/secrets/age.txt' });
  it('restore workers keep it; every other queue\'s worker drops it', () => {
    expect(envForQueue('restore', withKey).DROVER_BACKUP_AGE_IDENTITY_FILE).toBe('/secrets/age.txt');
    expect(envForQueue('backup', withKey).DROVER_BACKUP_AGE_IDENTITY_FILE).toBeUndefined();
    expect(envForQueue('infra', withKey).DROVER_BACKUP_AGE_IDENTITY_FILE).toBeUndefined();
  });
  it('a restore worker without it is an EnvError naming the variable', () => {
    expect(() => envForQueue('restore', parseEnv(workerEnvSchema, complete))).toThrow(EnvError);
    expect(() => envForQueue('restore', parseEnv(workerEnvSchema, complete))).toThrow(/DROVER_BACKUP_AGE_IDENTITY_FILE/);
  });
});

describe('the dedup key (issue 19)', () => {
  it('backup workers keep it (it decrypts nothing); a short key file is an EnvError naming the variable', () => {
    const dir = scratchDir('dedup-key-');
    writeFileSync(path.join(dir, 'ok'), Buffer.alloc(32, 7));
    writeFileSync(path.join(dir, 'short'), 'too short');
    const env = parseEnv(workerEnvSchema, { ...complete, DROVER_BACKUP_DEDUP_KEY_FILE: path.join(dir, 'ok'), DROVER_BACKUP_AGE_IDENTITY_FILE: '/secrets/age.txt' });
    expect(envForQueue('backup', env).DROVER_BACKUP_DEDUP_KEY_FILE).toBe(path.join(dir, 'ok'));
    expect(envForQueue('backup', env).DROVER_BACKUP_AGE_IDENTITY_FILE).toBeUndefined();
    expect(readDedupKey(path.join(dir, 'ok'))).toEqual(Buffer.alloc(32, 7));
    expect(() => readDedupKey(path.join(dir, 'short'))).toThrow(/DROVER_BACKUP_DEDUP_KEY_FILE: .* holds 9 bytes; at least 32/);
  });
});
