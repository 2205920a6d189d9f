#l = #chain.layout<[1, 1]>

func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x4xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x4xf32, #l>, tensor<?xi32> -> tensor<5x4xf32, #l>
  %bias = chain.param "bias" : tensor<5x4xf32, #l>
  %y = chain.add %x, %bias : tensor<5x4xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x4xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<5x4xf32, #l>, tensor<10x4xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
