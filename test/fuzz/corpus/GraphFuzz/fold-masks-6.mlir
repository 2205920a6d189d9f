#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>

func.func @swiglu_ffn(%x: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #b>
  %wu = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<32x16xf32, #b>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #b>
  %gt = chain.linear %x, %wg : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %up = chain.linear %x, %wu : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %h = chain.swiglu %gt, %up : tensor<?x32xf32, #l>
  %d = chain.linear %h, %wd : tensor<?x32xf32, #l>, tensor<16x32xf32, #b> -> tensor<?x16xf32, #l>
  return %d : tensor<?x16xf32, #l>
}
