func.func @lm_head_zero_chains(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<32x8xf32, #chain.layout<[1, 1]>>) {
  %y = chain.lm_head %x, %w chains 0 : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<32x8xf32, #chain.layout<[1, 1]>> -> tensor<?x32xf32>
  return
}
