//===- PipelineTest.cpp - Tests for compiler/Pipeline.h -------------------===//

#include "compiler/Pipeline.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace colm;

// Two threads capture errors on one context (colm serve decodes requests in
// parallel): each error reaches the capture of the thread that raised it,
// even when the other thread registered its capture later.
TEST(PipelineTest, DiagnosticCaptureKeepsEachThreadsErrors) {
  mlir::MLIRContext context;
  std::mutex m;
  std::condition_variable cv;
  int stage = 0;
  auto waitFor = [&](int s) {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return stage >= s; });
  };
  auto advance = [&] {
    std::lock_guard<std::mutex> lock(m);
    ++stage;
    cv.notify_all();
  };
  std::string a, b;
  std::thread first([&] {
    DiagnosticCapture capture(context);
    advance(); // 1: registered first
    waitFor(2);
    mlir::emitError(mlir::UnknownLoc::get(&context), "error of thread A");
    a = capture.status("none").message();
    advance(); // 3
    waitFor(4);
  });
  std::thread second([&] {
    waitFor(1);
    DiagnosticCapture capture(context); // on top of the stack now
    advance();                          // 2
    waitFor(3);
    mlir::emitError(mlir::UnknownLoc::get(&context), "error of thread B");
    b = capture.status("none").message();
    advance(); // 4
  });
  first.join();
  second.join();
  EXPECT_EQ(a, "error of thread A");
  EXPECT_EQ(b, "error of thread B");
}
