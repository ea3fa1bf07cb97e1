/**
 * The ONNX protobuf messages as plain TypeScript objects (ONNX IR v11, onnx.proto of ONNX 1.17+).
 *
 * Field presence follows proto2: an optional field is `undefined` when absent, a repeated field is an
 * array (empty when absent). Bulk numeric tensor fields are typed arrays, `rawData` is a zero-copy view
 * into the decoded buffer. `$unknown` keeps each field record the schema does not know, byte for byte,
 * so decode → encode loses nothing written by a newer ONNX.
 */
export interface Unknown {
  $unknown?: Uint8Array[];
}

export interface StringStringEntryProto extends Unknown {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto extends Unknown {
  domain?: string;
  version?: number;
}

export interface TensorShapeDimension extends Unknown {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

export interface TensorShapeProto extends Unknown {
  dim: TensorShapeDimension[];
}

export interface TypeProtoTensor extends Unknown {
  elemType?: number;
  shape?: TensorShapeProto;
}

export interface TypeProtoSequence extends Unknown {
  elemType?: TypeProto;
}

export interface TypeProtoMap extends Unknown {
  keyType?: number;
  valueType?: TypeProto;
}

export interface TypeProtoOptional extends Unknown {
  elemType?: TypeProto;
}

export interface TypeProtoOpaque extends Unknown {
  domain?: string;
  name?: string;
}

export interface TypeProto extends Unknown {
  tensorType?: TypeProtoTensor;
  sequenceType?: TypeProtoSequence;
  mapType?: TypeProtoMap;
  optionalType?: TypeProtoOptional;
  sparseTensorType?: TypeProtoTensor;
  opaqueType?: TypeProtoOpaque;
  denotation?: string;
}

export interface ValueInfoProto extends Unknown {
  name?: string;
  type?: TypeProto;
  docString?: string;
  metadataProps: StringStringEntryProto[];
}

export interface TensorSegment extends Unknown {
  begin?: number;
  end?: number;
}

export interface TensorProto extends Unknown {
  dims: number[];
  dataType?: number;
  segment?: TensorSegment;
  floatData?: Float32Array;
  int32Data?: Int32Array;
  stringData: Uint8Array[];
  int64Data?: BigInt64Array;
  name?: string;
  docString?: string;
  rawData?: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation?: number;
  doubleData?: Float64Array;
  uint64Data?: BigUint64Array;
  metadataProps: StringStringEntryProto[];
}

export interface SparseTensorProto extends Unknown {
  values?: TensorProto;
  indices?: TensorProto;
  dims: number[];
}

export interface AttributeProto extends Unknown {
  name?: string;
  refAttrName?: string;
  docString?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparseTensor?: SparseTensorProto;
  tp?: TypeProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

export interface IntIntListEntryProto extends Unknown {
  key?: number;
  value: number[];
}

export interface SimpleShardedDimProto extends Unknown {
  dimValue?: number;
  dimParam?: string;
  numShards?: number;
}

export interface ShardedDimProto extends Unknown {
  axis?: number;
  simpleSharding: SimpleShardedDimProto[];
}

export interface ShardingSpecProto extends Unknown {
  tensorName?: string;
  device: number[];
  indexToDeviceGroupMap: IntIntListEntryProto[];
  shardedDim: ShardedDimProto[];
}

export interface NodeDeviceConfigurationProto extends Unknown {
  configurationId?: string;
  shardingSpec: ShardingSpecProto[];
  pipelineStage?: number;
}

export interface NodeProto extends Unknown {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  metadataProps: StringStringEntryProto[];
  deviceConfigurations: NodeDeviceConfigurationProto[];
}

export interface TensorAnnotation extends Unknown {
  tensorName?: string;
  quantParameterTensorNames: StringStringEntryProto[];
}

export interface GraphProto extends Unknown {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation: TensorAnnotation[];
  metadataProps: StringStringEntryProto[];
}

export interface TrainingInfoProto extends Unknown {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initializationBinding: StringStringEntryProto[];
  updateBinding: StringStringEntryProto[];
}

export interface FunctionProto extends Unknown {
  name?: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString?: string;
  opsetImport: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  valueInfo: ValueInfoProto[];
  metadataProps: StringStringEntryProto[];
}

export interface DeviceConfigurationProto extends Unknown {
  name?: string;
  numDevices?: number;
  device: string[];
}

export interface ModelProto extends Unknown {
  irVersion?: number;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps: StringStringEntryProto[];
  trainingInfo: TrainingInfoProto[];
  functions: FunctionProto[];
  configuration: DeviceConfigurationProto[];
}

/** AttributeProto.AttributeType */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** TensorProto.DataLocation */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;
