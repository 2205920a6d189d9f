#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
func.func @forward(%x: tensor<?x8xf32, #l>) -> tensor<?x10xf32> {
  %w1 = chain.param "w" : tensor<8x8xf32, #b>
  %a = chain.linear %x, %w1 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w2 = chain.param "w" : tensor<8x8xf32, #b>
  %c = chain.linear %a, %w2 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %c, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
