import { ApiError, unsupportedMediaType } from './errors.ts';

// Kubernetes' protobuf request bodies (https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding)
// for the few kinds kubectl's generator commands send that way (`kubectl create namespace`,
// `configmap`, `secret generic`, `serviceaccount`): the `k8s\0` envelope, then a
// runtime.Unknown whose raw bytes are the object, decoded with the field numbers of the
// Kubernetes .proto files. Other kinds answer 415, telling the user to send JSON or YAML.

type Kind = 'string' | 'bool' | 'map' | 'bytesMap' | Message;
type Field = { name: string; kind: Kind; repeated?: boolean };
type Message = { fields: Record<number, Field> };

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

const ownerReference: Message = {
  fields: {
    1: { name: 'kind', kind: 'string' },
    3: { name: 'name', kind: 'string' },
    4: { name: 'uid', kind: 'string' },
    5: { name: 'apiVersion', kind: 'string' },
    6: { name: 'controller', kind: 'bool' },
    7: { name: 'blockOwnerDeletion', kind: 'bool' },
  },
};

const objectMeta: Message = {
  fields: {
    1: { name: 'name', kind: 'string' },
    2: { name: 'generateName', kind: 'string' },
    3: { name: 'namespace', kind: 'string' },
    5: { name: 'uid', kind: 'string' },
    6: { name: 'resourceVersion', kind: 'string' },
    11: { name: 'labels', kind: 'map' },
    12: { name: 'annotations', kind: 'map' },
    13: { name: 'ownerReferences', kind: ownerReference, repeated: true },
    14: { name: 'finalizers', kind: 'string', repeated: true },
  },
};

const localObjectReference: Message = { fields: { 1: { name: 'name', kind: 'string' } } };

const kinds: Record<string, Message> = {
  'v1/Namespace': {
    fields: {
      1: { name: 'metadata', kind: objectMeta },
      2: { name: 'spec', kind: { fields: { 1: { name: 'finalizers', kind: 'string', repeated: true } } } },
    },
  },
  'v1/ConfigMap': {
    fields: {
      1: { name: 'metadata', kind: objectMeta },
      2: { name: 'data', kind: 'map' },
      3: { name: 'binaryData', kind: 'bytesMap' },
      4: { name: 'immutable', kind: 'bool' },
    },
  },
  'v1/Secret': {
    fields: {
      1: { name: 'metadata', kind: objectMeta },
      2: { name: 'data', kind: 'bytesMap' },
      3: { name: 'type', kind: 'string' },
      4: { name: 'stringData', kind: 'map' },
      5: { name: 'immutable', kind: 'bool' },
    },
  },
  'v1/ServiceAccount': {
    fields: {
      1: { name: 'metadata', kind: objectMeta },
      3: { name: 'imagePullSecrets', kind: localObjectReference, repeated: true },
      4: { name: 'automountServiceAccountToken', kind: 'bool' },
    },
  },
};

type Wire = { field: number; varint?: bigint; bytes?: Buffer };

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  for (let i = at; i < buf.length; i++) {
    const b = buf[i] ?? 0;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value, i + 1];
    shift += 7n;
  }
  throw new Error('truncated varint');
}

function wireFields(buf: Buffer): Wire[] {
  const out: Wire[] = [];
  let at = 0;
  while (at < buf.length) {
    const [key, next] = readVarint(buf, at);
    at = next;
    const field = Number(key >> 3n);
    const type = Number(key & 7n);
    if (type === 0) {
      const [v, after] = readVarint(buf, at);
      out.push({ field, varint: v });
      at = after;
    } else if (type === 2) {
      const [len, after] = readVarint(buf, at);
      const end = after + Number(len);
      if (end > buf.length) throw new Error('truncated field');
      out.push({ field, bytes: buf.subarray(after, end) });
      at = end;
    } else if (type === 1) at += 8;
    else if (type === 5) at += 4;
    else throw new Error(`unsupported wire type ${type}`);
  }
  return out;
}

function mapEntry(bytes: Buffer, valueAsBase64: boolean): [string, string] {
  let key = '';
  let value = '';
  for (const w of wireFields(bytes)) {
    if (w.field === 1) key = w.bytes?.toString('utf8') ?? '';
    if (w.field === 2) value = (valueAsBase64 ? w.bytes?.toString('base64') : w.bytes?.toString('utf8')) ?? '';
  }
  return [key, value];
}

function decodeMessage(buf: Buffer, message: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const w of wireFields(buf)) {
    const f = message.fields[w.field];
    if (!f) continue;
    let value: unknown;
    if (f.kind === 'string') value = w.bytes?.toString('utf8');
    else if (f.kind === 'bool') value = w.varint !== undefined && w.varint !== 0n;
    else if (f.kind === 'map' || f.kind === 'bytesMap') {
      const [k, v] = mapEntry(w.bytes ?? Buffer.alloc(0), f.kind === 'bytesMap');
      out[f.name] = { ...(out[f.name] as Record<string, string> | undefined), [k]: v };
      continue;
    } else value = decodeMessage(w.bytes ?? Buffer.alloc(0), f.kind);
    if (value === '' && !f.repeated) continue; // proto2 writes empty strings; JSON omits them
    if (f.repeated) out[f.name] = [...((out[f.name] as unknown[] | undefined) ?? []), value];
    else out[f.name] = value;
  }
  return out;
}

/** The JSON form of a protobuf-encoded object of a supported kind; 415 otherwise. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupportedMediaType(['application/json', 'application/yaml']);
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  let envelope: Wire[];
  try {
    envelope = wireFields(body.subarray(4));
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `error decoding protobuf body: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const w of envelope) {
    if (w.field === 1 && w.bytes) {
      for (const t of wireFields(w.bytes)) {
        if (t.field === 1) apiVersion = t.bytes?.toString('utf8') ?? '';
        if (t.field === 2) kind = t.bytes?.toString('utf8') ?? '';
      }
    }
    if (w.field === 2 && w.bytes) raw = w.bytes;
  }
  const message = kinds[`${apiVersion}/${kind}`];
  if (!message) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the sandbox API server decodes protobuf only for Namespace, ConfigMap, Secret and ServiceAccount, not ${kind || 'this object'}: send JSON or YAML (kubectl apply -f, kubectl create -f)`,
      {},
    );
  }
  return { apiVersion, kind, ...decodeMessage(raw, message) };
}
