func.func @chained_scalar(
    %x: tensor<f32, #chain.layout<[1]>>) {
  return
}
