func.func @weight_block_unchained(%w: tensor<8x16xf32>) {
  %y = chain.weight_block %w out_chain 1 : tensor<8x16xf32> -> tensor<4x8xf32>
  return
}
