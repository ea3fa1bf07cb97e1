/**
 * Which attributes ONNX defines as FLOAT or FLOATS, per domain and op type. A JS number does not say
 * whether it is an int or a float, so `makeAttribute` used to type `{ alpha: 1 }` as INT, and ORT refuses
 * such a model ("Mismatched attribute type in '…alpha'", seen for LeakyRelu, Elu, HardSigmoid, Clip-6 and
 * com.microsoft QuickGelu with onnxruntime-node 1.30). With the op type at
 * hand, the builder looks the attribute up here and writes an integral number as FLOAT (an integral list as
 * FLOATS) when the op defines it so; every attribute not listed keeps the int/float guess.
 *
 * Why here and not beside the per-op knowledge in src/ops: the builder (src/ir/builder.ts) needs the table,
 * and src/ir is the lowest layer, which may not import src/ops (see .dependency-cruiser.cjs). The table is
 * a fact of the format, like the proto schema in src/ir/schema.ts, not a rule Hone chose.
 *
 * Source: the operator schemas of onnx 1.23 (all versions of every op, ai.onnx, ai.onnx.ml and the preview
 * domains) and of onnxruntime 1.30 (com.microsoft, and the ops ORT still registers in the default domain:
 * SimplifiedLayerNormalization and the retired experimental ImageScaler, Scale, Affine, ScaledTanh,
 * ParametricSoftplus, GivenTensorFill). Listed are attributes that are FLOAT(S) in every version that has
 * them; some exist only in old versions (Clip's min/max before 11, Pad's value before 11, Dropout's ratio
 * before 12, Upsample's scales 7–8 and height_scale/width_scale in 1), and are listed since wherever they
 * appear they are floats. Not listed: LpPool's and GlobalLpPool's `p`, a FLOAT in opset 1 only and an INT
 * from 2 on (write `{ float: p }` for opset 1); Dropout's `seed` (INT from 12), unlike the FLOAT `seed` of
 * RandomNormal/RandomUniform(Like), Bernoulli and Multinomial; tensor-valued attributes (ConstantOfShape's
 * value, Constant's value), which a TensorProto already types.
 */

/** FLOAT: one number; FLOATS: a list. */
export type FloatAttrKind = 'float' | 'floats';

type Table = Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, FloatAttrKind>>>>>>;

const FLOAT_ATTRIBUTES: Table = {
  '': {
    Affine: { alpha: 'float', beta: 'float' },
    Attention: { scale: 'float', softcap: 'float' },
    BatchNormalization: { epsilon: 'float', momentum: 'float' },
    Bernoulli: { seed: 'float' },
    Celu: { alpha: 'float' },
    Clip: { max: 'float', min: 'float' },
    Constant: { value_float: 'float', value_floats: 'floats' },
    Dropout: { ratio: 'float' },
    Elu: { alpha: 'float' },
    GRU: { activation_alpha: 'floats', activation_beta: 'floats', clip: 'float' },
    Gemm: { alpha: 'float', beta: 'float' },
    GivenTensorFill: { values: 'floats' },
    GroupNormalization: { epsilon: 'float' },
    HardSigmoid: { alpha: 'float', beta: 'float' },
    ImageScaler: { bias: 'floats', scale: 'float' },
    InstanceNormalization: { epsilon: 'float' },
    LRN: { alpha: 'float', beta: 'float', bias: 'float' },
    LSTM: { activation_alpha: 'floats', activation_beta: 'floats', clip: 'float' },
    LayerNormalization: { epsilon: 'float' },
    LeakyRelu: { alpha: 'float' },
    LinearAttention: { scale: 'float' },
    MaxRoiPool: { spatial_scale: 'float' },
    Multinomial: { seed: 'float' },
    Pad: { value: 'float' },
    ParametricSoftplus: { alpha: 'float', beta: 'float' },
    RMSNormalization: { epsilon: 'float' },
    RNN: { activation_alpha: 'floats', activation_beta: 'floats', clip: 'float' },
    RandomNormal: { mean: 'float', scale: 'float', seed: 'float' },
    RandomNormalLike: { mean: 'float', scale: 'float', seed: 'float' },
    RandomUniform: { high: 'float', low: 'float', seed: 'float' },
    RandomUniformLike: { high: 'float', low: 'float', seed: 'float' },
    Resize: { cubic_coeff_a: 'float', extrapolation_value: 'float' },
    RoiAlign: { spatial_scale: 'float' },
    Scale: { scale: 'float' },
    ScaledTanh: { alpha: 'float', beta: 'float' },
    Selu: { alpha: 'float', gamma: 'float' },
    Shrink: { bias: 'float', lambd: 'float' },
    SimplifiedLayerNormalization: { epsilon: 'float' },
    SwiGLU: { alpha: 'float' },
    Swish: { alpha: 'float' },
    TfIdfVectorizer: { weights: 'floats' },
    ThresholdedRelu: { alpha: 'float' },
    Upsample: { height_scale: 'float', scales: 'floats', width_scale: 'float' },
  },
  'ai.onnx.ml': {
    Binarizer: { threshold: 'float' },
    Imputer: { imputed_value_floats: 'floats', replaced_value_float: 'float' },
    LabelEncoder: { default_float: 'float', keys_floats: 'floats', values_floats: 'floats' },
    LinearClassifier: { coefficients: 'floats', intercepts: 'floats' },
    LinearRegressor: { coefficients: 'floats', intercepts: 'floats' },
    SVMClassifier: {
      coefficients: 'floats',
      kernel_params: 'floats',
      prob_a: 'floats',
      prob_b: 'floats',
      rho: 'floats',
      support_vectors: 'floats',
    },
    SVMRegressor: { coefficients: 'floats', kernel_params: 'floats', rho: 'floats', support_vectors: 'floats' },
    Scaler: { offset: 'floats', scale: 'floats' },
    TreeEnsembleClassifier: { base_values: 'floats', class_weights: 'floats', nodes_hitrates: 'floats', nodes_values: 'floats' },
    TreeEnsembleRegressor: { base_values: 'floats', nodes_hitrates: 'floats', nodes_values: 'floats', target_weights: 'floats' },
  },
  'ai.onnx.preview': {
    FlexAttention: { scale: 'float' },
  },
  'ai.onnx.preview.training': {
    Adagrad: { decay_factor: 'float', epsilon: 'float', norm_coefficient: 'float' },
    Adam: { alpha: 'float', beta: 'float', epsilon: 'float', norm_coefficient: 'float', norm_coefficient_post: 'float' },
    Momentum: { alpha: 'float', beta: 'float', norm_coefficient: 'float' },
  },
  'com.microsoft': {
    Attention: { mask_filter_value: 'float', scale: 'float' },
    AttnLSTM: { activation_alpha: 'floats', activation_beta: 'floats', clip: 'float' },
    CropAndResize: { extrapolation_value: 'float' },
    DecoderAttention: { mask_filter_value: 'float' },
    DecoderMaskedMultiHeadAttention: { mask_filter_value: 'float', scale: 'float' },
    DecoderMaskedSelfAttention: { mask_filter_value: 'float', scale: 'float' },
    DynamicQuantizeLSTM: { activation_alpha: 'floats', activation_beta: 'floats', clip: 'float' },
    EmbedLayerNormalization: { epsilon: 'float' },
    EngramGate: { epsilon: 'float' },
    FusedConv: { activation_params: 'floats' },
    FusedGemm: { activation_alpha: 'float', activation_beta: 'float', activation_gamma: 'float', alpha: 'float', beta: 'float' },
    FusedMatMul: { alpha: 'float' },
    FusedMatMulActivation: { activation_alpha: 'float', activation_beta: 'float', activation_gamma: 'float', alpha: 'float' },
    GatedDeltaNet: { scale: 'float' },
    GatedRMSNorm: { epsilon: 'float' },
    GemmFloat8: { alpha: 'float', beta: 'float' },
    GroupNorm: { epsilon: 'float' },
    GroupQueryAttention: { qk_norm_epsilon: 'float', scale: 'float', softcap: 'float' },
    LinearAttention: { scale: 'float' },
    MRotaryEmbedding: { scale: 'float' },
    MatMulNBitsMlp: { epsilon: 'float' },
    MatMulNBitsQkv: { epsilon: 'float' },
    MoE: { activation_alpha: 'float', activation_beta: 'float', swiglu_limit: 'float' },
    MultiHeadAttention: { mask_filter_value: 'float', scale: 'float' },
    NhwcFusedConv: { activation_params: 'floats' },
    PackedAttention: { scale: 'float' },
    PackedMultiHeadAttention: { mask_filter_value: 'float', scale: 'float' },
    PagedAttention: { qk_norm_epsilon: 'float', scale: 'float', softcap: 'float' },
    QAttention: { mask_filter_value: 'float', scale: 'float' },
    QEmbedLayerNormalization: { epsilon: 'float' },
    QGemm: { alpha: 'float' },
    QLinearLeakyRelu: { alpha: 'float' },
    QMoE: { activation_alpha: 'float', activation_beta: 'float', swiglu_limit: 'float' },
    QOrderedLayerNormalization: { epsilon: 'float' },
    QuickGelu: { alpha: 'float' },
    RotaryEmbedding: { scale: 'float' },
    Sampling: { filter_value: 'float', presence_penalty: 'float', temperature: 'float', top_p: 'float' },
    SkipGroupNorm: { epsilon: 'float' },
    SkipLayerNormalization: { epsilon: 'float' },
    SkipSimplifiedLayerNormalization: { epsilon: 'float' },
    SparseAttention: { scale: 'float' },
    SparseToDenseMatMul: { alpha: 'float' },
    TransposeMatMul: { alpha: 'float' },
  },
};

/**
 * 'float' or 'floats' when op `opType` of `domain` ('' or 'ai.onnx' for the default domain) defines
 * attribute `name` as FLOAT or FLOATS; undefined for any other attribute, op or domain.
 */
export function floatAttrKind(opType: string, name: string, domain = ''): FloatAttrKind | undefined {
  const d = domain === 'ai.onnx' ? '' : domain;
  // Own keys only: a name such as 'constructor' must not find Object.prototype's.
  const attrs =
    Object.hasOwn(FLOAT_ATTRIBUTES, d) && Object.hasOwn(FLOAT_ATTRIBUTES[d]!, opType) ? FLOAT_ATTRIBUTES[d]![opType]! : undefined;
  return attrs && Object.hasOwn(attrs, name) ? attrs[name] : undefined;
}
