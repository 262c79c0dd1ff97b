/**
 * Unit: a group of business clusters that fail and release together (a cell, 单元). Clusters
 * declared inside a Unit carry its name in the label fleet.kok.dev/unit, and so do their Nodes.
 */
import { Construct, type IConstruct } from 'constructs';
import { quote } from './errors.js';
import { PropChecks } from './validate.js';

const UNIT = Symbol.for('kok.blueprints.Unit');

export interface UnitProps {
  /** The unit label value. @default - the construct id */
  readonly name?: string;
}

export class Unit extends Construct {
  /** The nearest Unit enclosing `c` (or `c` itself), if any. */
  static of(c: IConstruct): Unit | undefined {
    return c.node.scopes.reverse().find((s): s is Unit => UNIT in s);
  }

  readonly name: string;

  constructor(scope: Construct, id: string, props: UnitProps = {}) {
    super(scope, id);
    Object.defineProperty(this, UNIT, { value: true });
    this.name = props.name ?? id;
    new PropChecks(`Unit ${quote(this.name)}`).labelValue(props.name === undefined ? 'id' : 'props.name', this.name);
  }
}
