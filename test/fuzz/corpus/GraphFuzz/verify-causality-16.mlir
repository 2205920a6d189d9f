#l = #chain.layout<[1, 1]>

func.func @concat_swapped(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "w" : tensor<8x8xf32, #chain.blocks<[1, 1]>>
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %w1 = chain.weight_block %w out_chain 1 : tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<4x4xf32>
  %y1 = chain.dense %x1, %w1 : tensor<?x4xf32, #chain.layout<[1]>>, tensor<4x4xf32> -> tensor<?x4xf32>
  %w2 = chain.weight_block %w out_chain 2 : tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<4x8xf32>
  %y2 = chain.dense %x, %w2 : tensor<?x8xf32, #l>, tensor<4x8xf32> -> tensor<?x4xf32>
  %y = chain.concat %y2, %y1 : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}
