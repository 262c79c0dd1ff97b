/** kok's blueprints: cdk8s constructs for fleets and for kok itself. */
export { FleetChart, type FleetChartProps } from './chart.js';
export { FleetCluster, type FleetClusterProps, type PoolProps } from './cluster.js';
export { BlueprintError } from './errors.js';
export { KokInstall, METRICS_PORT, METRICS_TOKEN_SECRET, type KokInstallProps } from './install.js';
export { FleetTarget, type FleetTargetProps, type MachineTypeProps, type SimulationProps } from './target.js';
export { Unit, type UnitProps } from './unit.js';
/** The low-level classes, generated from kok's CRDs by `npm run imports`. */
export * as fleet from './imports/fleet.kok.dev.js';
