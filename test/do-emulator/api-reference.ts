/**
 * What DigitalOcean's published API reference (github.com/digitalocean/openapi, specification/resources/*)
 * lists as request body fields for each endpoint the emulator serves, and the check that refuses any other.
 */
type Json = Record<string, unknown>;

/** Request body fields the API reference lists per endpoint ("METHOD path", ids as `:id`). */
const LB_FIELDS = ['name', 'project_id', 'size_unit', 'size', 'algorithm', 'forwarding_rules', 'health_check', 'sticky_sessions', 'redirect_http_to_https', 'enable_proxy_protocol', 'enable_backend_keepalive', 'http_idle_timeout_seconds', 'vpc_uuid', 'disable_lets_encrypt_dns_records', 'firewall', 'network', 'network_stack', 'type', 'domains', 'glb_settings', 'target_load_balancer_ids', 'tls_cipher_policy', 'region', 'droplet_ids', 'tag'];
/** models/domain_record.yml (`id` is read-only). */
const RECORD_FIELDS = ['type', 'name', 'data', 'priority', 'port', 'ttl', 'weight', 'flags', 'tag'];
export const REQUEST_FIELDS: Record<string, string[]> = {
  'POST /v2/droplets': ['name', 'names', 'region', 'size', 'image', 'ssh_keys', 'backups', 'backup_policy', 'ipv6', 'monitoring', 'tags', 'user_data', 'private_networking', 'volumes', 'vpc_uuid', 'with_droplet_agent'],
  'POST /v2/tags': ['name'],
  'POST /v2/account/keys': ['name', 'public_key'],
  'POST /v2/vpcs': ['name', 'description', 'region', 'ip_range'],
  'POST /v2/volumes': ['name', 'size_gigabytes', 'description', 'region', 'snapshot_id', 'filesystem_type', 'filesystem_label', 'tags'],
  'POST /v2/volumes/:id/actions': ['type', 'droplet_id', 'region', 'tags', 'size_gigabytes'],
  'POST /v2/firewalls': ['name', 'inbound_rules', 'outbound_rules', 'droplet_ids', 'tags'],
  'POST /v2/load_balancers': LB_FIELDS,
  'POST /v2/reserved_ips': ['droplet_id', 'region', 'project_id'],
  // specification/resources/domains: a domain is created by name, optionally with the apex A record's address.
  'POST /v2/domains': ['name', 'ip_address'],
  'POST /v2/domains/:name/records': RECORD_FIELDS,
  'PATCH /v2/domains/:name/records/:id': RECORD_FIELDS,
  'PUT /v2/domains/:name/records/:id': RECORD_FIELDS,
};
const NESTED_FIELDS: Record<string, string[]> = {
  forwarding_rules: ['entry_protocol', 'entry_port', 'target_protocol', 'target_port', 'certificate_id', 'tls_passthrough'],
  health_check: ['protocol', 'port', 'path', 'check_interval_seconds', 'response_timeout_seconds', 'unhealthy_threshold', 'healthy_threshold'],
  inbound_rules: ['protocol', 'ports', 'sources'],
  outbound_rules: ['protocol', 'ports', 'destinations'],
  sources: ['addresses', 'droplet_ids', 'load_balancer_uids', 'kubernetes_ids', 'tags'],
  destinations: ['addresses', 'droplet_ids', 'load_balancer_uids', 'kubernetes_ids', 'tags'],
};

/** The fields of `body` (and of its known nested objects) the reference does not list, as dotted paths. */
export function unknownFields(body: Json, allowed: string[], at = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (!allowed.includes(k)) {
      out.push(`${at}${k}`);
      continue;
    }
    const nested = NESTED_FIELDS[k];
    if (!nested || v === null || typeof v !== 'object') continue;
    for (const [i, item] of (Array.isArray(v) ? v : [v]).entries()) {
      if (item && typeof item === 'object') out.push(...unknownFields(item as Json, nested, Array.isArray(v) ? `${at}${k}[${i}].` : `${at}${k}.`));
    }
  }
  return out;
}
