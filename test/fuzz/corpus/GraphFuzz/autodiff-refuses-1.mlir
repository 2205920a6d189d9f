#l = #chain.layout<[1, 1]>

func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x4xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x4xf32, #l>, tensor<?xi32> -> tensor<?x4xf32, #l>
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x4xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<?x4xf32, #l>, tensor<10x4xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
