func.func @f(%a: i32) -> i32 {
  %c = "test.op"(%a) : (i32) -> i32
  return %c : i32
}
