/** String patterns the fleet.kok.dev schemas share. */

/** An RFC 1123 label: provider and machine type names, namespaces. */
export const dnsLabelPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** An RFC 1123 subdomain: names of Kubernetes objects (Clusters, CloudTargets), DNS domains. */
export const dnsSubdomainPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A non-empty label value (63 characters at most), as regions, zones and units are Node label values. */
export const labelValuePattern = '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
/** "1.31" (latest patch of a minor) or "1.31.2"; no leading zeros, no "v". */
export const kubernetesVersionPattern = '^1\\.(0|[1-9][0-9]*)(\\.(0|[1-9][0-9]*))?$';
