#include "zk_session.h"

#include <zookeeper/zookeeper.jute.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "zk_layout.h"

namespace tessera::leader::zk {

// What the ZooKeeper threads may touch: the loop to post to, the owner's handler (behind a
// weak pointer, read on the loop only) and the state that wait_connected() waits on.
struct Session::Hub {
  sdk::EventLoop* loop = nullptr;
  std::shared_ptr<OnEvent> on_event;
  std::mutex mutex;
  std::condition_variable changed;
  std::atomic<int> state{0};
};

namespace {

// The C client's own log lines would bypass the host's logger: the plugin logs what matters
// (session states, elections) itself.
void drop_client_log(const char*) {}

}  // namespace

Result<std::unique_ptr<Session>> Session::open(const std::string& servers, int timeout_ms,
                                               sdk::EventLoop* loop, OnEvent on_event) {
  std::unique_ptr<Session> session(new Session());
  session->hub_ = std::make_unique<Hub>();
  session->hub_->loop = loop;
  session->hub_->on_event = std::make_shared<OnEvent>(std::move(on_event));
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  session->handle_ = zookeeper_init2(servers.c_str(), &Session::watcher, timeout_ms, nullptr,
                                     session->hub_.get(), 0, &drop_client_log);
  if (session->handle_ == nullptr) {
    return make_error(ErrorCode::kUnavailable, "cannot start a ZooKeeper client for " + servers +
                                                   ": " + std::string(std::strerror(errno)));
  }
  return session;
}

Session::~Session() {
  if (handle_ != nullptr) zookeeper_close(handle_);
  // zookeeper_close joined the client's threads: nothing reads the hub any more. Events it
  // posted and the loop has not run yet hold only a weak pointer to the handler.
}

void Session::watcher(zhandle_t*, int type, int state, const char* path, void* context) {
  auto* hub = static_cast<Hub*>(context);
  if (type == ZOO_SESSION_EVENT) {
    std::lock_guard<std::mutex> lock(hub->mutex);
    hub->state.store(state);
    hub->changed.notify_all();
  }
  std::weak_ptr<OnEvent> handler = hub->on_event;
  Event event{type, state, path != nullptr ? std::string(path) : std::string()};
  hub->loop->post([handler, event = std::move(event)] {
    if (auto live = handler.lock(); live && *live) (*live)(event);
  });
}

bool Session::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(hub_->mutex);
  hub_->changed.wait_for(lock, timeout, [this] {
    int state = hub_->state.load();
    return state == ZOO_CONNECTED_STATE || state == ZOO_EXPIRED_SESSION_STATE ||
           state == ZOO_AUTH_FAILED_STATE;
  });
  return hub_->state.load() == ZOO_CONNECTED_STATE;
}

int Session::state() const { return zoo_state(handle_); }

bool Session::connected() const { return zoo_state(handle_) == ZOO_CONNECTED_STATE; }

bool Session::expired() const {
  int state = zoo_state(handle_);
  return state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE;
}

int64_t Session::id() const {
  const clientid_t* client = zoo_client_id(handle_);
  return client != nullptr ? client->client_id : 0;
}

int Session::timeout_ms() const { return zoo_recv_timeout(handle_); }

int Session::refuse_when_disconnected() const {
  if (expired()) return ZSESSIONEXPIRED;
  return connected() ? ZOK : ZCONNECTIONLOSS;
}

int Session::get(const std::string& path, std::string& data, Stat* stat, size_t max_bytes,
                 bool watch) {
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  Stat own{};
  if (stat == nullptr) stat = &own;
  // Most znodes are small: a first read into a small buffer, and a second one of the size the
  // first reported when the data did not fit (a znode that changed between them is read again).
  size_t size = std::min<size_t>(max_bytes, 4096);
  for (int attempt = 0; attempt < 5; ++attempt) {
    data.resize(size + 1);
    int length = static_cast<int>(data.size());
    int rc = zoo_get(handle_, path.c_str(), watch ? 1 : 0, data.data(), &length, stat);
    if (rc != ZOK) {
      data.clear();
      return rc;
    }
    // A znode larger than allowed is refused rather than used in part.
    if (stat->dataLength < 0 || static_cast<size_t>(stat->dataLength) > max_bytes) {
      data.clear();
      return ZBADARGUMENTS;
    }
    if (static_cast<size_t>(stat->dataLength) <= size) {
      data.resize(length < 0 ? 0 : static_cast<size_t>(length));
      return ZOK;
    }
    size = static_cast<size_t>(stat->dataLength);
  }
  data.clear();
  return ZBADVERSION;
}

namespace {

// One window of get_many(): the completions run on the client's completion thread and hand
// their results over under the mutex.
struct ReadWindow {
  std::mutex mutex;
  std::condition_variable done;
  size_t outstanding = 0;
  size_t max_bytes = 0;
  std::vector<Session::Read>* reads = nullptr;
};

struct ReadSlot {
  ReadWindow* window = nullptr;
  size_t index = 0;
};

void read_completed(int rc, const char* value, int length, const Stat* stat, const void* context) {
  const auto* slot = static_cast<const ReadSlot*>(context);
  ReadWindow& window = *slot->window;
  Session::Read& read = (*window.reads)[slot->index];
  read.rc = rc;
  if (rc == ZOK && stat != nullptr) {
    read.stat = *stat;
    // A znode larger than allowed is refused rather than used (as get() does).
    if (stat->dataLength < 0 || static_cast<size_t>(stat->dataLength) > window.max_bytes ||
        length < 0 || static_cast<size_t>(length) > window.max_bytes) {
      read.rc = ZBADARGUMENTS;
    } else if (value != nullptr) {
      read.data.assign(value, static_cast<size_t>(length));
    }
  }
  std::lock_guard<std::mutex> lock(window.mutex);
  if (--window.outstanding == 0) window.done.notify_all();
}

}  // namespace

int Session::get_many(const std::vector<std::string>& paths, std::vector<Read>& reads,
                      size_t max_bytes) {
  reads.clear();
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  reads.resize(paths.size());
  ReadWindow window;
  window.max_bytes = max_bytes;
  window.reads = &reads;
  std::vector<ReadSlot> slots(std::min(paths.size(), kReadWindow));
  for (size_t first = 0; first < paths.size(); first += kReadWindow) {
    size_t count = std::min(kReadWindow, paths.size() - first);
    {
      std::lock_guard<std::mutex> lock(window.mutex);
      window.outstanding = count;
    }
    for (size_t i = 0; i < count; ++i) {
      slots[i] = ReadSlot{&window, first + i};
      int rc = zoo_aget(handle_, paths[first + i].c_str(), 0, read_completed, &slots[i]);
      if (rc != ZOK) {
        // Not queued, so no completion will come for it.
        reads[first + i].rc = rc;
        std::lock_guard<std::mutex> lock(window.mutex);
        --window.outstanding;
      }
    }
    // Every queued request completes, with ZCONNECTIONLOSS or the like at the latest when the
    // connection drops or the session closes, so this wait ends (as a synchronous call's does).
    std::unique_lock<std::mutex> lock(window.mutex);
    window.done.wait(lock, [&] { return window.outstanding == 0; });
  }
  return ZOK;
}

int Session::exists(const std::string& path, Stat* stat, bool watch) {
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  Stat own{};
  return zoo_exists(handle_, path.c_str(), watch ? 1 : 0, stat != nullptr ? stat : &own);
}

int Session::children(const std::string& path, std::vector<std::string>& names, bool watch) {
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  String_vector list{};
  int rc = zoo_get_children(handle_, path.c_str(), watch ? 1 : 0, &list);
  names.clear();
  if (rc != ZOK) return rc;
  size_t count = list.count < 0 ? 0 : static_cast<size_t>(list.count);
  names.reserve(count);
  for (size_t i = 0; i < count; ++i) names.emplace_back(list.data[i]);
  deallocate_String_vector(&list);
  return ZOK;
}

int Session::create(const std::string& path, const std::string& data, int flags,
                    std::string* created) {
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  std::string buffer(path.size() + 32, '\0');
  int rc = zoo_create(handle_, path.c_str(), data.data(), static_cast<int>(data.size()),
                      &ZOO_OPEN_ACL_UNSAFE, flags, buffer.data(), static_cast<int>(buffer.size()));
  if (rc == ZOK && created != nullptr) *created = buffer.c_str();
  return rc;
}

int Session::set(const std::string& path, const std::string& data, int version, Stat* stat) {
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  Stat own{};
  return zoo_set2(handle_, path.c_str(), data.data(), static_cast<int>(data.size()), version,
                  stat != nullptr ? stat : &own);
}

int Session::remove(const std::string& path, int version) {
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  return zoo_delete(handle_, path.c_str(), version);
}

int Session::multi(const std::vector<Op>& ops, int* failed) {
  if (failed != nullptr) *failed = -1;
  if (int rc = refuse_when_disconnected(); rc != ZOK) return rc;
  std::vector<zoo_op_t> requests(ops.size());
  std::vector<zoo_op_result_t> results(ops.size());
  std::vector<std::string> created(ops.size());
  std::vector<Stat> stats(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Op::Kind::kCheck:
        zoo_check_op_init(&requests[i], op.path.c_str(), op.version);
        break;
      case Op::Kind::kCreate:
        created[i].assign(op.path.size() + 32, '\0');
        zoo_create_op_init(&requests[i], op.path.c_str(), op.data.data(),
                           static_cast<int>(op.data.size()), &ZOO_OPEN_ACL_UNSAFE, op.flags,
                           created[i].data(), static_cast<int>(created[i].size()));
        break;
      case Op::Kind::kSet:
        zoo_set_op_init(&requests[i], op.path.c_str(), op.data.data(),
                        static_cast<int>(op.data.size()), op.version, &stats[i]);
        break;
      case Op::Kind::kDelete:
        zoo_delete_op_init(&requests[i], op.path.c_str(), op.version);
        break;
    }
  }
  int rc = zoo_multi(handle_, static_cast<int>(ops.size()), requests.data(), results.data());
  if (rc != ZOK && failed != nullptr) {
    for (size_t i = 0; i < results.size(); ++i) {
      // The failing op has its own error; the ones rolled back with it say ZRUNTIMEINCONSISTENCY.
      if (results[i].err != ZOK && results[i].err != ZRUNTIMEINCONSISTENCY) {
        *failed = static_cast<int>(i);
        return results[i].err;
      }
    }
  }
  return rc;
}

int Session::ensure_path(const std::string& path, const std::string& data) {
  size_t slash = 0;
  while (true) {
    slash = path.find('/', slash + 1);
    std::string prefix = path.substr(0, slash);
    int rc = create(prefix, slash == std::string::npos ? data : std::string(), 0);
    if (rc != ZOK && rc != ZNODEEXISTS) return rc;
    if (slash == std::string::npos) return ZOK;
  }
}

std::string describe(int code) {
  const char* text = zerror(code);
  return text != nullptr ? text : "error " + std::to_string(code);
}

std::string state_name(int state) {
  if (state == ZOO_CONNECTED_STATE) return "connected";
  if (state == ZOO_CONNECTING_STATE) return "connecting";
  if (state == ZOO_EXPIRED_SESSION_STATE) return "expired";
  if (state == ZOO_AUTH_FAILED_STATE) return "authentication failed";
  if (state == ZOO_ASSOCIATING_STATE) return "associating";
  if (state == ZOO_NOTCONNECTED_STATE) return "not connected";
  return "state " + std::to_string(state);
}

}  // namespace tessera::leader::zk
