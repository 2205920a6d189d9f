#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x8xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x8xf32, #l>, tensor<?xi32> -> tensor<?x8xf32, #l>
  %w = chain.param "w" : tensor<8x8xf32>
  %y = chain.dense %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
