#l = #chain.layout<[1, 1]>
#l1 = #chain.layout<[1]>

func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x4xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x4xf32, #l>, tensor<?xi32> -> tensor<?x4xf32, #l>
  %x1 = chain.prefix %x chains 1 : tensor<?x4xf32, #l> -> tensor<?x2xf32, #l1>
  %a:2 = "test.split"(%x1) : (tensor<?x2xf32, #l1>) -> (tensor<?x4xf32, #l>, tensor<?x4xf32, #l>)
  %y = chain.add %x, %a#0 : tensor<?x4xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x4xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<?x4xf32, #l>, tensor<10x4xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
