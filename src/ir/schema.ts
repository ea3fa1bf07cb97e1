/**
 * The wire schema of ONNX's protobuf messages: field number, name, kind. The codec is driven by this
 * table alone, so a field added by a later ONNX is one line here (until then it survives as unknown).
 * onnx.proto is proto2: repeated scalars are unpacked unless marked packed; the decoder accepts both.
 */
export type ScalarKind = 'int64' | 'uint64' | 'int32' | 'enum' | 'float' | 'double' | 'string' | 'bytes';
/** Repeated numeric fields decoded into a typed array instead of number[]. */
export type TypedKind = 'f32' | 'i32' | 'i64' | 'u64' | 'f64';

export interface FieldSchema {
  no: number;
  name: string;
  kind: ScalarKind | 'message';
  repeated?: boolean;
  packed?: boolean;
  typed?: TypedKind;
  message?: string;
}

export interface MessageSchema {
  name: string;
  fields: FieldSchema[];
  byNo: Map<number, FieldSchema>;
  /** Repeated non-typed fields: initialised to [] on decode. */
  arrays: string[];
}

const f = (no: number, name: string, kind: FieldSchema['kind'], extra: Partial<FieldSchema> = {}): FieldSchema => ({
  no,
  name,
  kind,
  ...extra,
});
const rep = (no: number, name: string, kind: FieldSchema['kind'], extra: Partial<FieldSchema> = {}) =>
  f(no, name, kind, { repeated: true, ...extra });
const msg = (no: number, name: string, message: string) => f(no, name, 'message', { message });
const repMsg = (no: number, name: string, message: string) => rep(no, name, 'message', { message });

const table: Record<string, FieldSchema[]> = {
  StringStringEntryProto: [f(1, 'key', 'string'), f(2, 'value', 'string')],
  OperatorSetIdProto: [f(1, 'domain', 'string'), f(2, 'version', 'int64')],
  TensorShapeDimension: [f(1, 'dimValue', 'int64'), f(2, 'dimParam', 'string'), f(3, 'denotation', 'string')],
  TensorShapeProto: [repMsg(1, 'dim', 'TensorShapeDimension')],
  TypeProtoTensor: [f(1, 'elemType', 'int32'), msg(2, 'shape', 'TensorShapeProto')],
  TypeProtoSequence: [msg(1, 'elemType', 'TypeProto')],
  TypeProtoMap: [f(1, 'keyType', 'int32'), msg(2, 'valueType', 'TypeProto')],
  TypeProtoOptional: [msg(1, 'elemType', 'TypeProto')],
  TypeProtoOpaque: [f(1, 'domain', 'string'), f(2, 'name', 'string')],
  TypeProto: [
    msg(1, 'tensorType', 'TypeProtoTensor'),
    msg(4, 'sequenceType', 'TypeProtoSequence'),
    msg(5, 'mapType', 'TypeProtoMap'),
    f(6, 'denotation', 'string'),
    msg(7, 'opaqueType', 'TypeProtoOpaque'),
    msg(8, 'sparseTensorType', 'TypeProtoTensor'),
    msg(9, 'optionalType', 'TypeProtoOptional'),
  ],
  ValueInfoProto: [
    f(1, 'name', 'string'),
    msg(2, 'type', 'TypeProto'),
    f(3, 'docString', 'string'),
    repMsg(4, 'metadataProps', 'StringStringEntryProto'),
  ],
  TensorSegment: [f(1, 'begin', 'int64'), f(2, 'end', 'int64')],
  TensorProto: [
    rep(1, 'dims', 'int64'),
    f(2, 'dataType', 'int32'),
    msg(3, 'segment', 'TensorSegment'),
    rep(4, 'floatData', 'float', { packed: true, typed: 'f32' }),
    rep(5, 'int32Data', 'int32', { packed: true, typed: 'i32' }),
    rep(6, 'stringData', 'bytes'),
    rep(7, 'int64Data', 'int64', { packed: true, typed: 'i64' }),
    f(8, 'name', 'string'),
    f(9, 'rawData', 'bytes'),
    rep(10, 'doubleData', 'double', { packed: true, typed: 'f64' }),
    rep(11, 'uint64Data', 'uint64', { packed: true, typed: 'u64' }),
    f(12, 'docString', 'string'),
    repMsg(13, 'externalData', 'StringStringEntryProto'),
    f(14, 'dataLocation', 'enum'),
    repMsg(16, 'metadataProps', 'StringStringEntryProto'),
  ],
  SparseTensorProto: [msg(1, 'values', 'TensorProto'), msg(2, 'indices', 'TensorProto'), rep(3, 'dims', 'int64')],
  AttributeProto: [
    f(1, 'name', 'string'),
    f(2, 'f', 'float'),
    f(3, 'i', 'int64'),
    f(4, 's', 'bytes'),
    msg(5, 't', 'TensorProto'),
    msg(6, 'g', 'GraphProto'),
    rep(7, 'floats', 'float'),
    rep(8, 'ints', 'int64'),
    rep(9, 'strings', 'bytes'),
    repMsg(10, 'tensors', 'TensorProto'),
    repMsg(11, 'graphs', 'GraphProto'),
    f(13, 'docString', 'string'),
    msg(14, 'tp', 'TypeProto'),
    repMsg(15, 'typeProtos', 'TypeProto'),
    f(20, 'type', 'enum'),
    f(21, 'refAttrName', 'string'),
    msg(22, 'sparseTensor', 'SparseTensorProto'),
    repMsg(23, 'sparseTensors', 'SparseTensorProto'),
  ],
  IntIntListEntryProto: [f(1, 'key', 'int64'), rep(2, 'value', 'int64')],
  SimpleShardedDimProto: [f(1, 'dimValue', 'int64'), f(2, 'dimParam', 'string'), f(3, 'numShards', 'int64')],
  ShardedDimProto: [f(1, 'axis', 'int64'), repMsg(2, 'simpleSharding', 'SimpleShardedDimProto')],
  ShardingSpecProto: [
    f(1, 'tensorName', 'string'),
    rep(2, 'device', 'int64'),
    repMsg(3, 'indexToDeviceGroupMap', 'IntIntListEntryProto'),
    repMsg(4, 'shardedDim', 'ShardedDimProto'),
  ],
  NodeDeviceConfigurationProto: [
    f(1, 'configurationId', 'string'),
    repMsg(2, 'shardingSpec', 'ShardingSpecProto'),
    f(3, 'pipelineStage', 'int32'),
  ],
  NodeProto: [
    rep(1, 'input', 'string'),
    rep(2, 'output', 'string'),
    f(3, 'name', 'string'),
    f(4, 'opType', 'string'),
    repMsg(5, 'attribute', 'AttributeProto'),
    f(6, 'docString', 'string'),
    f(7, 'domain', 'string'),
    f(8, 'overload', 'string'),
    repMsg(9, 'metadataProps', 'StringStringEntryProto'),
    repMsg(10, 'deviceConfigurations', 'NodeDeviceConfigurationProto'),
  ],
  TensorAnnotation: [f(1, 'tensorName', 'string'), repMsg(2, 'quantParameterTensorNames', 'StringStringEntryProto')],
  GraphProto: [
    repMsg(1, 'node', 'NodeProto'),
    f(2, 'name', 'string'),
    repMsg(5, 'initializer', 'TensorProto'),
    f(10, 'docString', 'string'),
    repMsg(11, 'input', 'ValueInfoProto'),
    repMsg(12, 'output', 'ValueInfoProto'),
    repMsg(13, 'valueInfo', 'ValueInfoProto'),
    repMsg(14, 'quantizationAnnotation', 'TensorAnnotation'),
    repMsg(15, 'sparseInitializer', 'SparseTensorProto'),
    repMsg(16, 'metadataProps', 'StringStringEntryProto'),
  ],
  TrainingInfoProto: [
    msg(1, 'initialization', 'GraphProto'),
    msg(2, 'algorithm', 'GraphProto'),
    repMsg(3, 'initializationBinding', 'StringStringEntryProto'),
    repMsg(4, 'updateBinding', 'StringStringEntryProto'),
  ],
  FunctionProto: [
    f(1, 'name', 'string'),
    rep(4, 'input', 'string'),
    rep(5, 'output', 'string'),
    rep(6, 'attribute', 'string'),
    repMsg(7, 'node', 'NodeProto'),
    f(8, 'docString', 'string'),
    repMsg(9, 'opsetImport', 'OperatorSetIdProto'),
    f(10, 'domain', 'string'),
    repMsg(11, 'attributeProto', 'AttributeProto'),
    repMsg(12, 'valueInfo', 'ValueInfoProto'),
    f(13, 'overload', 'string'),
    repMsg(14, 'metadataProps', 'StringStringEntryProto'),
  ],
  DeviceConfigurationProto: [f(1, 'name', 'string'), f(2, 'numDevices', 'int32'), rep(3, 'device', 'string')],
  ModelProto: [
    f(1, 'irVersion', 'int64'),
    f(2, 'producerName', 'string'),
    f(3, 'producerVersion', 'string'),
    f(4, 'domain', 'string'),
    f(5, 'modelVersion', 'int64'),
    f(6, 'docString', 'string'),
    msg(7, 'graph', 'GraphProto'),
    repMsg(8, 'opsetImport', 'OperatorSetIdProto'),
    repMsg(14, 'metadataProps', 'StringStringEntryProto'),
    repMsg(20, 'trainingInfo', 'TrainingInfoProto'),
    repMsg(25, 'functions', 'FunctionProto'),
    repMsg(26, 'configuration', 'DeviceConfigurationProto'),
  ],
};

export const schemas: Record<string, MessageSchema> = {};
for (const [name, fields] of Object.entries(table)) {
  fields.sort((a, b) => a.no - b.no);
  schemas[name] = {
    name,
    fields,
    byNo: new Map(fields.map((x) => [x.no, x])),
    arrays: fields.filter((x) => x.repeated && !x.typed).map((x) => x.name),
  };
}
for (const s of Object.values(schemas)) {
  for (const x of s.fields) if (x.message && !schemas[x.message]) throw new Error(`schema: unknown message ${x.message}`);
}
