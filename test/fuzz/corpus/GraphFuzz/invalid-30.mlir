func.func @linear_result_width(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  %y = chain.linear %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x4xf32, #chain.layout<[1, 1]>>
  return
}
