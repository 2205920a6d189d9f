//===- ServeHttp.h - colm serve's HTTP connection handling ------*- C++ -*-===//
//
// HTTP comes from Debian's cpp-httplib (0.11, a shared library), with its
// connection handling replaced: an accepted connection waits in a "parking
// lot" (one poll() thread) until it sends something, so idle connections
// never hold a worker; the lot holds a bounded number of them and closes the
// oldest and those idle past the timeout. The listening socket has
// SO_REUSEADDR only (httplib's default adds SO_REUSEPORT, which would let a
// second server share the port) and a large backlog.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_SERVEHTTP_H
#define COLM_TOOLS_SERVEHTTP_H

#include "runtime/Status.h"

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace colm::cli {

struct HttpOptions {
  size_t threads = 72;
  size_t maxIdle = 256;
  int idleTimeoutSec = 5;
  int ioTimeoutMs = 5000;
  int64_t maxRequestsPerConnection = 100;
  int backlog = 1024;
};

struct Connection;
class WorkerPool;

class HttpServer : public httplib::Server {
public:
  explicit HttpServer(const HttpOptions &options);
  ~HttpServer() override;

  /// Binds (port 0: any free port); on failure says why.
  Result<int> bindTo(const std::string &host, int port);
  /// After listen_after_bind() returned: closes idle connections, drops
  /// queued ones and waits for the workers.
  void finish();

private:
  bool process_and_close_socket(socket_t sock) override;
  void wakeLot();
  void park(std::shared_ptr<Connection> c);
  void dispatch(std::shared_ptr<Connection> c);
  void serve(const std::shared_ptr<Connection> &c);
  void watch();

  HttpOptions options;
  std::unique_ptr<WorkerPool> pool;
  std::mutex parkMutex;
  std::vector<std::shared_ptr<Connection>> arrivals;
  std::atomic<bool> stopping{false};
  int wakePipe[2] = {-1, -1};
  std::thread lot;
};

/// The connection of the request this worker thread handles (null outside
/// a request).
const Connection *currentRequestConnection();
/// True once that client closed its side with nothing more to read (a
/// client that sent its next request already is still there).
bool clientClosed(const Connection &c);
/// Closes this request's connection after the response (its body is not
/// read).
void closeAfterThisResponse();

} // namespace colm::cli

#endif // COLM_TOOLS_SERVEHTTP_H
