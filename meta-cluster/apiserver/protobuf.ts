/**
 * Protobuf request bodies. client-go ≥ 1.32 typed clients send `application/vnd.kubernetes.protobuf`
 * (so `kubectl create namespace|configmap|secret|deployment|serviceaccount|token` and
 * `kubectl auth can-i` do, with no switch to JSON), so the server decodes the envelope and the few
 * messages those generators fill in.
 */

/**
 * Field numbers of those messages, from k8s.io/api's generated.proto.
 * `name=N` is a string, `name=N:type` otherwise: i32, i64, bool, bytes (base64 in JSON), time,
 * intstr, qty, a message name, `[]T` repeated, `{T}` map<string, T>; a trailing `?` marks a
 * pointer field, whose zero value is kept (gogo-protobuf writes non-pointer zero values too,
 * which JSON would omit). Unknown fields are refused unless they hold a zero value.
 */
const PROTO_MESSAGES: Record<string, string> = {
  'runtime.Unknown': 'typeMeta=1:runtime.TypeMeta raw=2:bytes contentEncoding=3 contentType=4',
  'runtime.TypeMeta': 'apiVersion=1 kind=2',
  ObjectMeta:
    'name=1 generateName=2 namespace=3 selfLink=4 uid=5 resourceVersion=6 generation=7:i64 creationTimestamp=8:time ' +
    'deletionTimestamp=9:time deletionGracePeriodSeconds=10:i64? labels=11:{s} annotations=12:{s} ' +
    'ownerReferences=13:[]OwnerReference finalizers=14:[]s',
  OwnerReference: 'kind=1 name=3 uid=4 apiVersion=5 controller=6:bool? blockOwnerDeletion=7:bool?',
  LabelSelector: 'matchLabels=1:{s} matchExpressions=2:[]LabelSelectorRequirement',
  LabelSelectorRequirement: 'key=1 operator=2 values=3:[]s',
  // core/v1
  Namespace: 'metadata=1:ObjectMeta spec=2:NamespaceSpec status=3:NamespaceStatus',
  NamespaceSpec: 'finalizers=1:[]s',
  NamespaceStatus: 'phase=1',
  ConfigMap: 'metadata=1:ObjectMeta data=2:{s} binaryData=3:{bytes} immutable=4:bool?',
  Secret: 'metadata=1:ObjectMeta data=2:{bytes} type=3 stringData=4:{s} immutable=5:bool?',
  ServiceAccount:
    'metadata=1:ObjectMeta secrets=2:[]ObjectReference imagePullSecrets=3:[]LocalObjectReference automountServiceAccountToken=4:bool?',
  ObjectReference: 'kind=1 namespace=2 name=3 uid=4 apiVersion=5 resourceVersion=6 fieldPath=7',
  LocalObjectReference: 'name=1',
  PodTemplateSpec: 'metadata=1:ObjectMeta spec=2:PodSpec',
  PodSpec:
    'initContainers=20:[]Container containers=2:[]Container restartPolicy=3 terminationGracePeriodSeconds=4:i64? ' +
    'activeDeadlineSeconds=5:i64? dnsPolicy=6 nodeSelector=7:{s} serviceAccountName=8 serviceAccount=9 ' +
    'automountServiceAccountToken=21:bool? nodeName=10 hostNetwork=11:bool hostPID=12:bool hostIPC=13:bool ' +
    'shareProcessNamespace=27:bool? imagePullSecrets=15:[]LocalObjectReference hostname=16 subdomain=17 schedulerName=19 ' +
    'priorityClassName=24 priority=25:i32? runtimeClassName=29? enableServiceLinks=30:bool? preemptionPolicy=31? ' +
    'setHostnameAsFQDN=35:bool? hostUsers=37:bool? hostnameOverride=41?',
  Container:
    'name=1 image=2 command=3:[]s args=4:[]s workingDir=5 ports=6:[]ContainerPort env=7:[]EnvVar resources=8:ResourceRequirements ' +
    'volumeMounts=9:[]VolumeMount terminationMessagePath=13 imagePullPolicy=14 stdin=16:bool stdinOnce=17:bool tty=18:bool ' +
    'terminationMessagePolicy=20 restartPolicy=24?',
  ContainerPort: 'name=1 hostPort=2:i32 containerPort=3:i32 protocol=4 hostIP=5',
  EnvVar: 'name=1 value=2',
  ResourceRequirements: 'limits=1:{qty} requests=2:{qty}',
  VolumeMount: 'name=1 readOnly=2:bool mountPath=3 subPath=4 mountPropagation=5? subPathExpr=6 recursiveReadOnly=7?',
  // apps/v1
  Deployment: 'metadata=1:ObjectMeta spec=2:DeploymentSpec status=3:DeploymentStatus',
  DeploymentSpec:
    'replicas=1:i32? selector=2:LabelSelector template=3:PodTemplateSpec strategy=4:DeploymentStrategy minReadySeconds=5:i32 ' +
    'revisionHistoryLimit=6:i32? paused=7:bool progressDeadlineSeconds=9:i32? podReplacementPolicy=10?',
  DeploymentStrategy: 'type=1 rollingUpdate=2:RollingUpdateDeployment',
  RollingUpdateDeployment: 'maxUnavailable=1:intstr maxSurge=2:intstr',
  DeploymentStatus: 'observedGeneration=1:i64 replicas=2:i32 updatedReplicas=3:i32 readyReplicas=7:i32 availableReplicas=4:i32 unavailableReplicas=5:i32',
  // authentication.k8s.io/v1 (kubectl create token)
  TokenRequest: 'metadata=1:ObjectMeta spec=2:TokenRequestSpec status=3:TokenRequestStatus',
  TokenRequestSpec: 'audiences=1:[]s expirationSeconds=4:i64? boundObjectRef=3:BoundObjectReference',
  BoundObjectReference: 'kind=1 apiVersion=2 name=3 uid=4',
  TokenRequestStatus: 'token=1 expirationTimestamp=2:time',
  // authorization.k8s.io/v1 (kubectl auth can-i, can-i --list)
  SelfSubjectAccessReview: 'metadata=1:ObjectMeta spec=2:SelfSubjectAccessReviewSpec status=3:SubjectAccessReviewStatus',
  SelfSubjectAccessReviewSpec: 'resourceAttributes=1:ResourceAttributes nonResourceAttributes=2:NonResourceAttributes',
  ResourceAttributes:
    'namespace=1 verb=2 group=3 version=4 resource=5 subresource=6 name=7 fieldSelector=8:FieldSelectorAttributes labelSelector=9:LabelSelectorAttributes',
  FieldSelectorAttributes: 'rawSelector=1 requirements=2:[]FieldSelectorRequirement',
  FieldSelectorRequirement: 'key=1 operator=2 values=3:[]s',
  LabelSelectorAttributes: 'rawSelector=1 requirements=2:[]LabelSelectorRequirement',
  NonResourceAttributes: 'path=1 verb=2',
  SubjectAccessReviewStatus: 'allowed=1:bool denied=4:bool reason=2 evaluationError=3',
  SelfSubjectRulesReview: 'metadata=1:ObjectMeta spec=2:SelfSubjectRulesReviewSpec status=3:SubjectRulesReviewStatus',
  SelfSubjectRulesReviewSpec: 'namespace=1',
  SubjectRulesReviewStatus: 'resourceRules=1:[]ResourceRule nonResourceRules=2:[]NonResourceRule incomplete=3:bool evaluationError=4',
  ResourceRule: 'verbs=1:[]s apiGroups=2:[]s resources=3:[]s resourceNames=4:[]s',
  NonResourceRule: 'verbs=1:[]s nonResourceURLs=2:[]s',
};

/** The top-level messages by kind, for the `apiVersion`/`kind` the envelope names. */
const PROTO_KINDS: Record<string, string> = {
  'v1/Namespace': 'Namespace',
  'v1/ConfigMap': 'ConfigMap',
  'v1/Secret': 'Secret',
  'v1/ServiceAccount': 'ServiceAccount',
  'apps/v1/Deployment': 'Deployment',
  'authentication.k8s.io/v1/TokenRequest': 'TokenRequest',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'SelfSubjectRulesReview',
};

interface ProtoField {
  name: string;
  type: string;
  repeated: boolean;
  map: boolean;
  pointer: boolean;
}

let protoSchema: Map<string, Map<number, ProtoField>> | undefined;

function protoFields(message: string): Map<number, ProtoField> | undefined {
  protoSchema ??= new Map(
    Object.entries(PROTO_MESSAGES).map(([msg, spec]) => [
      msg,
      new Map(
        spec.split(/\s+/).map((entry) => {
          const [, name, num, rawType = 's'] = /^(\w+)=(\d+)(?::(.+))?$/.exec(entry.replace(/\?$/, ''))!;
          const repeated = rawType.startsWith('[]');
          const map = rawType.startsWith('{');
          const type = repeated ? rawType.slice(2) : map ? rawType.slice(1, -1) : rawType;
          return [Number(num), { name, type, repeated, map, pointer: entry.endsWith('?') }] as const;
        }),
      ),
    ]),
  );
  return protoSchema.get(message);
}

class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (this.pos >= this.buf.length || shift > 63n) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return BigInt.asIntN(64, result);
    }
  }
  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (len < 0 || this.pos + len > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  /** One field: its number and raw value (a bigint for varints and fixed ints, bytes otherwise). */
  field(): { num: number; wire: number; value: bigint | Uint8Array } {
    const tag = Number(this.varint());
    const num = tag >>> 3;
    const wire = tag & 7;
    const fixed = (n: number) => {
      if (this.pos + n > this.buf.length) throw new Error('truncated field');
      const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, n);
      this.pos += n;
      return n === 8 ? view.getBigInt64(0, true) : BigInt(view.getInt32(0, true));
    };
    switch (wire) {
      case 0:
        return { num, wire, value: this.varint() };
      case 1:
        return { num, wire, value: fixed(8) };
      case 2:
        return { num, wire, value: this.bytes() };
      case 5:
        return { num, wire, value: fixed(4) };
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Thrown for messages or fields outside PROTO_MESSAGES; the server answers 415 to it. */
export class UnsupportedProtobuf extends Error {}

function decodeScalar(type: string, value: bigint | Uint8Array): unknown {
  if (typeof value === 'bigint') {
    if (type === 'bool') return value !== 0n;
    if (type === 'i32') return Number(BigInt.asIntN(32, value));
    if (type === 'i64') return Number(value);
    throw new Error(`expected a ${type}, found a varint`);
  }
  switch (type) {
    case 's':
      return utf8.decode(value);
    case 'bytes':
      return Buffer.from(value).toString('base64');
    case 'time': {
      const t = decodeMessage('Time', value) as { seconds?: number; nanos?: number };
      if (!t.seconds && !t.nanos) return undefined;
      return new Date((t.seconds ?? 0) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    }
    case 'intstr': {
      const v = decodeMessage('IntOrString', value) as { type?: number; intVal?: number; strVal?: string };
      return v.type === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
    }
    case 'qty':
      return (decodeMessage('Quantity', value) as { string?: string }).string ?? '0';
    default:
      return decodeMessage(type, value);
  }
}

const SPECIAL_MESSAGES: Record<string, string> = {
  Time: 'seconds=1:i64 nanos=2:i32',
  IntOrString: 'type=1:i64 intVal=2:i32 strVal=3',
  Quantity: 'string=1',
  MapEntry: 'key=1 value=2:bytes',
};
Object.assign(PROTO_MESSAGES, SPECIAL_MESSAGES);

const isZero = (type: string, v: unknown) =>
  v === undefined || ((type === 's' || type === 'bytes') && v === '') || (type !== 'intstr' && (v === 0 || v === false));

function decodeMessage(message: string, buf: Uint8Array): Record<string, unknown> {
  const fields = protoFields(message);
  if (!fields) throw new UnsupportedProtobuf(`protobuf message ${message} is not supported`);
  const out: Record<string, unknown> = {};
  const r = new ProtoReader(buf);
  while (!r.done) {
    const { num, wire, value } = r.field();
    const f = fields.get(num);
    if (!f) {
      // A zero value is what gogo-protobuf writes for every unset non-pointer field.
      if (value === 0n || (value instanceof Uint8Array && value.length === 0)) continue;
      throw new UnsupportedProtobuf(`field ${num} of protobuf message ${message} is not supported`);
    }
    if (f.map) {
      const entry = decodeMessage('MapEntry', value as Uint8Array) as { key?: string; value?: string };
      const raw = Buffer.from(entry.value ?? '', 'base64');
      const v = f.type === 'bytes' ? raw.toString('base64') : f.type === 's' ? utf8.decode(raw) : decodeScalar(f.type, raw);
      out[f.name] = { ...(out[f.name] as object), [entry.key ?? '']: v };
    } else if (f.repeated) {
      const list = ((out[f.name] as unknown[]) ??= []);
      if (wire === 2 && ['i32', 'i64', 'bool'].includes(f.type)) {
        const packed = new ProtoReader(value as Uint8Array);
        while (!packed.done) list.push(decodeScalar(f.type, packed.varint()));
      } else {
        list.push(decodeScalar(f.type, value));
      }
    } else {
      const v = decodeScalar(f.type, value);
      if (f.pointer ? v !== undefined : !isZero(f.type, v)) out[f.name] = v;
    }
  }
  return out;
}

/** Magic prefix of the Kubernetes protobuf envelope (a runtime.Unknown follows). */
const PROTO_MAGIC = [0x6b, 0x38, 0x73, 0x00];

/**
 * A `application/vnd.kubernetes.protobuf` request body as the JSON object it stands for. Throws
 * {@link UnsupportedProtobuf} for kinds and fields outside PROTO_MESSAGES.
 */
export function decodeProtobufObject(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || PROTO_MAGIC.some((b, i) => body[i] !== b)) throw new Error('missing the k8s protobuf envelope prefix');
  const unknown = decodeMessage('runtime.Unknown', body.subarray(4)) as { typeMeta?: { apiVersion?: string; kind?: string }; raw?: string };
  const { apiVersion = '', kind = '' } = unknown.typeMeta ?? {};
  const message = PROTO_KINDS[`${apiVersion}/${kind}`];
  if (!message) throw new UnsupportedProtobuf(`protobuf encoding of ${apiVersion}, Kind=${kind} is not supported`);
  return { apiVersion, kind, ...decodeMessage(message, Buffer.from(unknown.raw ?? '', 'base64')) };
}
