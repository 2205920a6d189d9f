#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

func.func @backward_ops(%x: tensor<?x8xf32, #l>, %dy: tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<8x8xf32, #b>) {
  %w = chain.param "w" : tensor<8x8xf32, #b>
  %dx = chain.linear_grad_x %dy, %w : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %dw = chain.linear_grad_w %dy, %x from_chain 2 : tensor<?x8xf32, #l>, tensor<?x8xf32, #l> -> tensor<8x8xf32, #b>
  %dx2 = chain.add %dx, %dx : tensor<?x8xf32, #l>
  %g = chain.param "g" : tensor<8xf32, #l>
  %dn:2 = chain.norm_grad %x, %g, %dx2 : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  return %dn#0, %dw : tensor<?x8xf32, #l>, tensor<8x8xf32, #b>
}
