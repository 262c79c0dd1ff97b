/** FleetChart: a cdk8s Chart for fleet objects, with the namespace its Clusters and pools live in. */
import { Chart, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import type { Construct, IConstruct } from 'constructs';
import { quote } from './errors.js';
import { PropChecks } from './validate.js';

const FLEET_CHART = Symbol.for('kok.blueprints.FleetChart');

export interface FleetChartProps extends Omit<ChartProps, 'namespace'> {
  /** Namespace of the Clusters and MachinePools declared in the chart. @default "fleet" */
  readonly namespace?: string;
  /** Declare the namespace too (false when it is managed elsewhere). @default true */
  readonly createNamespace?: boolean;
}

export class FleetChart extends Chart {
  /** The nearest FleetChart enclosing `c`, if any. */
  static fleetOf(c: IConstruct): FleetChart | undefined {
    return c.node.scopes.reverse().find((s): s is FleetChart => FLEET_CHART in s);
  }

  /** Namespace of the fleet's namespaced objects. (Chart.namespace stays unset: CloudTargets are cluster-scoped.) */
  readonly fleetNamespace: string;
  /** The Namespace object, when the chart declares it; the fleet's namespaced objects depend on it. */
  readonly namespaceObject?: kplus.Namespace;

  constructor(scope: Construct, id: string, props: FleetChartProps = {}) {
    const { namespace = 'fleet', createNamespace = true, ...chartProps } = props;
    super(scope, id, chartProps);
    Object.defineProperty(this, FLEET_CHART, { value: true });
    this.fleetNamespace = namespace;
    new PropChecks(`FleetChart ${quote(id)}`).namespace('props.namespace', this.fleetNamespace);
    if (createNamespace) this.namespaceObject = new kplus.Namespace(this, 'Namespace', { metadata: { name: this.fleetNamespace } });
  }
}
