#b = #chain.blocks<[1, 1]>
func.func @f(%x: tensor<8x8xf32, #b>, %g: tensor<8xf32>) -> tensor<8x8xf32, #b> {
  %y = chain.norm %x, %g : tensor<8x8xf32, #b>, tensor<8xf32>
  return %y : tensor<8x8xf32, #b>
}
