//===- ServeHttp.cpp - colm serve's HTTP connection handling --------------===//
#include "tools/colm/ServeHttp.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>

namespace colm::cli {

using Clock = std::chrono::steady_clock;

struct Connection {
  explicit Connection(int fd) : fd(fd) {}
  ~Connection() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  bool hasBuffered() const { return pos < buffer.size(); }

  int fd;
  std::string buffer; // read from the socket, not consumed yet from `pos`
  size_t pos = 0;
  int64_t requests = 0;
  Clock::time_point idleSince = Clock::now();
};

/// The connection of the request this worker thread is handling, and
/// whether it must be closed after the response (an unread body).
thread_local Connection *currentConnection = nullptr;
thread_local bool closeAfterResponse = false;

bool waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, timeoutMs);
    if (n < 0 && errno == EINTR)
      continue;
    return n > 0 && (p.revents & (events | POLLHUP | POLLERR));
  }
}

/// True once the client closed its side (with nothing more to read); a
/// client that sent its next request already is still there.
bool peerClosed(const Connection &c) {
  if (c.hasBuffered())
    return false;
  pollfd p{c.fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0)
    return false;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP))
    return true;
  char byte;
  ssize_t n = ::recv(c.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0;
}

/// httplib's Stream over a Connection: buffered reads, writes that never
/// raise SIGPIPE, both with a timeout; the request's head (request line and
/// headers) must arrive whole within `headTimeoutMs`, so a client that
/// trickles it holds a worker no longer.
class ConnectionStream : public httplib::Stream {
public:
  ConnectionStream(Connection &c, int timeoutMs, int headTimeoutMs)
      : c(c), timeoutMs(timeoutMs),
        headDeadline(Clock::now() + std::chrono::milliseconds(headTimeoutMs)) {}
  using httplib::Stream::write;

  bool is_readable() const override {
    return c.hasBuffered() || waitFor(c.fd, POLLIN, timeoutMs);
  }
  bool is_writable() const override {
    return waitFor(c.fd, POLLOUT, timeoutMs) && !peerClosed(c);
  }
  ssize_t read(char *ptr, size_t size) override {
    if (!c.hasBuffered()) {
      int wait = timeoutMs;
      if (!headRead) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        headDeadline - Clock::now())
                        .count();
        if (left <= 0)
          return -1;
        wait = static_cast<int>(std::min<int64_t>(wait, left));
      }
      if (!waitFor(c.fd, POLLIN, wait))
        return -1;
      c.buffer.resize(4096);
      c.pos = 0;
      ssize_t n;
      do
        n = ::recv(c.fd, c.buffer.data(), c.buffer.size(), 0);
      while (n < 0 && errno == EINTR);
      c.buffer.resize(n > 0 ? static_cast<size_t>(n) : 0);
      if (n <= 0)
        return n;
    }
    size_t n = std::min(size, c.buffer.size() - c.pos);
    std::memcpy(ptr, c.buffer.data() + c.pos, n);
    c.pos += n;
    // The head ends at the first empty line: "\r\n\r\n".
    for (size_t i = 0; i < n && !headRead; ++i) {
      static const char end[] = "\r\n\r\n";
      matched = ptr[i] == end[matched] ? matched + 1 : ptr[i] == '\r' ? 1 : 0;
      headRead = matched == 4;
    }
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char *ptr, size_t size) override {
    if (!waitFor(c.fd, POLLOUT, timeoutMs))
      return -1;
    ssize_t n;
    do
      n = ::send(c.fd, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string &ip, int &port) const override {
    address(/*peer=*/true, ip, port);
  }
  void get_local_ip_and_port(std::string &ip, int &port) const override {
    address(/*peer=*/false, ip, port);
  }
  socket_t socket() const override { return c.fd; }

private:
  void address(bool peer, std::string &ip, int &port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int rc =
        peer ? ::getpeername(c.fd, reinterpret_cast<sockaddr *>(&addr), &len)
             : ::getsockname(c.fd, reinterpret_cast<sockaddr *>(&addr), &len);
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "0";
    if (rc == 0)
      ::getnameinfo(reinterpret_cast<sockaddr *>(&addr), len, host,
                    sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    ip = host;
    port = std::atoi(serv);
  }

  Connection &c;
  int timeoutMs;
  Clock::time_point headDeadline;
  bool headRead = false;
  int matched = 0; // bytes of "\r\n\r\n" seen
};

/// Runs httplib's per-connection job in the accepting thread: it only parks
/// the connection.
class InlineQueue : public httplib::TaskQueue {
public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

/// A fixed set of worker threads. Jobs queued when it shuts down are
/// dropped (their connections close).
class WorkerPool {
public:
  explicit WorkerPool(size_t n) {
    for (size_t i = 0; i < n; ++i)
      threads.emplace_back([this] { work(); });
  }
  ~WorkerPool() { shutdown(); }
  void enqueue(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping)
        return;
      jobs.push_back(std::move(job));
    }
    ready.notify_one();
  }
  void shutdown() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
      dropped.swap(jobs);
    }
    ready.notify_all();
    for (std::thread &t : threads)
      if (t.joinable())
        t.join();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        ready.wait(lock, [&] { return stopping || !jobs.empty(); });
        if (stopping)
          return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job();
    }
  }
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  std::vector<std::thread> threads;
};

HttpServer::HttpServer(const HttpOptions &options)
    : options(options), pool(std::make_unique<WorkerPool>(options.threads)) {
  new_task_queue = [] { return new InlineQueue(); };
  set_keep_alive_timeout(options.idleTimeoutSec);
  set_keep_alive_max_count(static_cast<size_t>(
      std::max<int64_t>(options.maxRequestsPerConnection, 1)));
  set_read_timeout(options.ioTimeoutMs / 1000,
                   (options.ioTimeoutMs % 1000) * 1000);
  set_write_timeout(options.ioTimeoutMs / 1000,
                    (options.ioTimeoutMs % 1000) * 1000);
  // SO_REUSEADDR only: a port another server listens on stays its own.
  set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (::pipe(wakePipe) != 0)
    wakePipe[0] = wakePipe[1] = -1;
  lot = std::thread([this] { watch(); });
}
HttpServer::~HttpServer() {
  finish();
  for (int fd : wakePipe)
    if (fd >= 0)
      ::close(fd);
}

Result<int> HttpServer::bindTo(const std::string &host, int port) {
  errno = 0;
  int bound = port == 0 ? bind_to_any_port(host)
                        : (bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    int e = errno;
    std::string where = host + ":" + std::to_string(port);
    if (e == EADDRINUSE)
      return Status::error("cannot listen on " + where +
                           ": the address is already in use (another "
                           "server listens there)");
    if (e == EADDRNOTAVAIL)
      return Status::error("cannot listen on " + where +
                           ": not an address of this machine");
    if (e == EACCES)
      return Status::error("cannot listen on " + where + ": permission denied");
    return Status::error("cannot listen on " + where +
                         (e ? std::string(": ") + std::strerror(e)
                            : std::string(" (in use, or not an address of "
                                          "this machine)")));
  }
  // httplib listens with a backlog of 5; a burst of clients must not see
  // refused or retried connections.
  ::listen(svr_sock_, options.backlog);
  return bound;
}

void HttpServer::finish() {
  {
    std::lock_guard<std::mutex> lock(parkMutex);
    if (stopping)
      return;
    stopping = true;
  }
  wakeLot();
  if (lot.joinable())
    lot.join();
  pool->shutdown();
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  park(std::make_shared<Connection>(sock));
  return true;
}

void HttpServer::wakeLot() {
  char x = 1;
  if (wakePipe[1] >= 0)
    (void)!::write(wakePipe[1], &x, 1);
}

void HttpServer::park(std::shared_ptr<Connection> c) {
  if (c->hasBuffered()) { // the next request is here already
    dispatch(std::move(c));
    return;
  }
  c->idleSince = Clock::now();
  {
    std::lock_guard<std::mutex> lock(parkMutex);
    if (stopping)
      return;
    arrivals.push_back(std::move(c));
  }
  wakeLot();
}

void HttpServer::dispatch(std::shared_ptr<Connection> c) {
  pool->enqueue([this, c] { serve(c); });
}

void HttpServer::serve(const std::shared_ptr<Connection> &c) {
  currentConnection = c.get();
  closeAfterResponse = false;
  ConnectionStream stream(*c, options.ioTimeoutMs,
                          options.idleTimeoutSec * 1000);
  bool closing =
      stopping.load() || ++c->requests >= options.maxRequestsPerConnection;
  bool connectionClosed = false;
  bool ok = process_request(stream, closing, connectionClosed, nullptr);
  currentConnection = nullptr;
  if (ok && !closing && !connectionClosed && !closeAfterResponse && !stopping)
    park(c);
}

/// The parking lot: waits for parked connections to send something.
void HttpServer::watch() {
  std::vector<std::shared_ptr<Connection>> parked;
  std::vector<pollfd> fds;
  auto timeout = std::chrono::seconds(options.idleTimeoutSec);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(parkMutex);
      if (stopping)
        return;
      for (auto &c : arrivals)
        parked.push_back(std::move(c));
      arrivals.clear();
    }
    // Bounded: the oldest go first (parked is in arrival order).
    if (parked.size() > options.maxIdle)
      parked.erase(parked.begin(),
                   parked.begin() + (parked.size() - options.maxIdle));
    fds.assign(1, pollfd{wakePipe[0], POLLIN, 0});
    for (auto &c : parked)
      fds.push_back(pollfd{c->fd, static_cast<short>(POLLIN | POLLRDHUP), 0});
    int n = ::poll(fds.data(), fds.size(), 100);
    if (n < 0 && errno != EINTR)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (fds[0].revents & POLLIN) {
      char drain[256];
      (void)!::read(wakePipe[0], drain, sizeof(drain));
    }
    Clock::time_point now = Clock::now();
    std::vector<std::shared_ptr<Connection>> still;
    for (size_t i = 0; i < parked.size(); ++i) {
      if (n > 0 && fds[i + 1].revents) {
        dispatch(std::move(parked[i])); // a request (or the close) came
      } else if (now - parked[i]->idleSince < timeout) {
        still.push_back(std::move(parked[i]));
      } // else idle too long: closed
    }
    parked.swap(still);
  }
}

const Connection *currentRequestConnection() { return currentConnection; }

bool clientClosed(const Connection &c) { return peerClosed(c); }

void closeAfterThisResponse() { closeAfterResponse = true; }

} // namespace colm::cli
