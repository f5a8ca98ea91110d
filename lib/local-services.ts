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
