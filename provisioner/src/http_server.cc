#include "warmblock/provisioner/http_server.h"

#include <grp.h>
#include <microhttpd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "warmblock/base/process.h"

namespace warmblock::provisioner {
namespace {

// Per-connection request state while the body arrives.
struct Pending {
  std::string body;
  bool too_large = false;
};

Result<gid_t> EnsureGroup(const std::string& group) {
  if (struct group* g = ::getgrnam(group.c_str())) return g->gr_gid;
  Status added = RunProgram({"groupadd", "--system", group});
  if (struct group* g = ::getgrnam(group.c_str())) return g->gr_gid;
  return Status::NotFound("group " + group + " does not exist and groupadd failed (" + added.ToString() +
                          "); create it (see tools/packaging/systemd)");
}

}  // namespace

Result<int> ListenUnix(const std::string& path, const std::string& group) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return Status::InvalidArgument("socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::close(fd);
    return Status::AlreadyExists("another warmblockd answers on " + path);
  }
  ::unlink(path.c_str());  // a stale socket from a dead daemon
  WB_ASSIGN_OR_RETURN(gid_t gid, EnsureGroup(group));
  // Owner-only until the mode and group are set, so nobody else can
  // connect in between.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::chown(path.c_str(), 0, gid) != 0 || ::chmod(path.c_str(), 0660) != 0 || ::listen(fd, 128) != 0) {
    Status s = Status::FromErrno(errno, "listen on " + path);
    ::close(fd);
    return s;
  }
  return fd;
}

struct HttpServer::Impl {
  Handler handler;
  size_t max_body = 0;
  MHD_Daemon* daemon = nullptr;
  int fd = -1;

  static MHD_Result Collect(void* cls, MHD_ValueKind, const char* key, const char* value) {
    auto* q = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
    q->emplace_back(key != nullptr ? key : "", value != nullptr ? value : "");
    return MHD_YES;
  }

  static MHD_Result Access(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*,
                           const char* upload, size_t* upload_size, void** con_cls) {
    auto* self = static_cast<Impl*>(cls);
    if (*con_cls == nullptr) {  // headers only, so far
      *con_cls = new Pending();
      return MHD_YES;
    }
    auto* p = static_cast<Pending*>(*con_cls);
    if (*upload_size != 0) {
      if (p->body.size() + *upload_size > self->max_body) {
        p->too_large = true;
      } else {
        p->body.append(upload, *upload_size);
      }
      *upload_size = 0;
      return MHD_YES;
    }
    HttpResponse out;
    if (p->too_large) {
      out = HttpResponse{413, "{\"error\": \"body: larger than " + std::to_string(self->max_body) +
                                  " bytes\", \"code\": \"too_large\"}\n"};
    } else {
      HttpRequest req;
      req.method = method;
      req.path = url;
      req.body = std::move(p->body);
      MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &Impl::Collect, &req.query);
      if (const MHD_ConnectionInfo* ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)) {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
          req.peer = Peer{cred.pid, cred.uid, cred.gid};
      }
      out = self->handler(req);
    }
    MHD_Response* resp = MHD_create_response_from_buffer(out.body.size(), out.body.data(), MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, out.content_type.c_str());
    MHD_Result r = MHD_queue_response(conn, static_cast<unsigned>(out.status), resp);
    MHD_destroy_response(resp);
    return r;
  }

  static void Completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    delete static_cast<Pending*>(*con_cls);
    *con_cls = nullptr;
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  if (impl_->daemon != nullptr) MHD_stop_daemon(impl_->daemon);
  if (impl_->fd >= 0) ::close(impl_->fd);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(int listen_fd, Handler handler, size_t max_body) {
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  impl->max_body = max_body;
  impl->fd = listen_fd;
  // A few threads: a slow cold create must not hold up the rest.
  impl->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, nullptr, nullptr, &Impl::Access,
                                  impl.get(), MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_THREAD_POOL_SIZE, 4u,
                                  MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                  static_cast<size_t>(256 * 1024), MHD_OPTION_NOTIFY_COMPLETED, &Impl::Completed,
                                  nullptr, MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    ::close(listen_fd);
    impl->fd = -1;
    return Status::Error(Status::Code::kIOError, "start the HTTP server (libmicrohttpd) on the API socket");
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace warmblock::provisioner
