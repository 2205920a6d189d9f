func.func @param_not_f32() {
  %w = chain.param "w" : tensor<8x8xf16>
  return
}
