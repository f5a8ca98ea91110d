/**
 * Where the nodes of a local cluster (`drover up --provider local`, network namespaces on this machine) reach the
 * local environment's own services, chiefly Galera: one extra host address on the loopback device (labelled
 * lo:drover; no dummy-link kernel module needed), shared by every local environment on the machine (each has its
 * own ports). Each node routes it through its farm bridge's gateway,
 * and its containers reach it through the node (NAT on the node, see BOOTSTRAP_SCRIPT in activities/lib/node-scripts.ts).
 * Nothing else of the machine is reachable from the nodes: they have no default route.
 */
export const LOCAL_SERVICES_ADDRESS = '10.254.254.1';
/** The label of the address on `lo` (how `ip addr` shows it, and how Drover finds it). */
export const LOCAL_SERVICES_LABEL = 'lo:drover';

/**
 * What a site's service on a local cluster sets beside a farm's: WP_HOME over plain HTTP (the local front speaks no
 * TLS), and the site's own domain resolving to its container. The nodes reach no DNS server, so each request
 * WordPress makes to itself (the installer's check of pretty permalinks, Site Health's loopback) waited out the
 * resolver's 10 s and failed; on a farm public DNS answers.
 */
export const LOCAL_SITE_SERVICE = { scheme: 'http', selfAddress: '127.0.0.1' } as const;
