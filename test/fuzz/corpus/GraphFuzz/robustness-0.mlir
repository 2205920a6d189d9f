func.func private @external(tensor<4x8xf32, #chain.layout<[1,1]>>) -> tensor<4x8xf32, #chain.layout<[1,1]>>
