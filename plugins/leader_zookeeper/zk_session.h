// Session: one ZooKeeper session through libzookeeper-mt, for the leader plugin, the `zk://`
// master detector and the tests.
//
// Calls are synchronous (zoo_get, zoo_create, zoo_multi...) and made from one thread, the
// owner's (the plugin's loop thread). They are refused at once with ZCONNECTIONLOSS while the
// session is not connected, so a call never waits for a reconnection; one in flight when the
// connection drops fails as soon as the client notices. Watches are one-shot and all go to
// the session's one watcher: every watch and state event is handed to `on_event` on `loop`
// (through EventLoop::post, the only cross-thread call), never on ZooKeeper's threads.
//
// An expired session stays expired: its owner opens a new Session. Destroying a Session closes
// it (zookeeper_close joins the client's threads; nothing is called after it returns).
#pragma once

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/result.h"
#include "tessera/sdk/event_loop.h"

namespace tessera::leader::zk {

struct Event {
  int type = 0;   // ZOO_SESSION_EVENT, ZOO_CHANGED_EVENT, ZOO_DELETED_EVENT, ...
  int state = 0;  // ZOO_CONNECTED_STATE, ZOO_CONNECTING_STATE, ZOO_EXPIRED_SESSION_STATE, ...
  std::string path;
};

// One operation of a multi (zoo_multi): all apply or none does.
struct Op {
  enum class Kind { kCheck, kCreate, kSet, kDelete };
  Kind kind = Kind::kCheck;
  std::string path;
  std::string data;  // kCreate, kSet
  int version = -1;  // kCheck, kSet, kDelete: the znode's expected version (-1: any)
  int flags = 0;     // kCreate
  static Op check(std::string path, int version) {
    return {Kind::kCheck, std::move(path), {}, version, 0};
  }
  static Op create(std::string path, std::string data, int flags = 0) {
    return {Kind::kCreate, std::move(path), std::move(data), -1, flags};
  }
  static Op set(std::string path, std::string data, int version) {
    return {Kind::kSet, std::move(path), std::move(data), version, 0};
  }
  static Op remove(std::string path, int version) {
    return {Kind::kDelete, std::move(path), {}, version, 0};
  }
};

class Session {
 public:
  using OnEvent = std::function<void(const Event&)>;

  // Starts connecting to `servers` ("host:port,host:port") with a session timeout of
  // `timeout_ms`. Events go to `on_event` on `loop` (neither may be null); the loop must
  // outlive the Session. Returns at once; wait_connected() waits for the session.
  static Result<std::unique_ptr<Session>> open(const std::string& servers, int timeout_ms,
                                               sdk::EventLoop* loop, OnEvent on_event);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Waits on the caller's thread (not a loop) until the session is connected, or expired, or
  // `timeout` passed. True when connected.
  bool wait_connected(std::chrono::milliseconds timeout);
  bool connected() const;
  int state() const;
  bool expired() const;
  // The session's id (0 before it was established) and its negotiated timeout.
  int64_t id() const;
  int timeout_ms() const;

  // Synchronous calls: ZOK or a ZooKeeper error code (zerror() says what it is).
  // get: the data (at most `max_bytes`: a larger znode is ZBADARGUMENTS), `watch` leaves a
  // watch (changed or deleted) on the znode.
  int get(const std::string& path, std::string& data, Stat* stat, size_t max_bytes,
          bool watch = false);
  int exists(const std::string& path, Stat* stat, bool watch = false);
  // One znode read by get_many().
  struct Read {
    int rc = ZOK;  // as get()'s
    std::string data;
    Stat stat{};
  };
  // Reads every znode of `paths` as get() does (no watches), the requests pipelined (at most
  // kReadWindow in flight) rather than one round trip each: listing 10,000 keys costs about
  // one round trip, not 10,000. `reads` gets one Read per path, in order. Returns ZOK, or a
  // code when the session cannot be used (then `reads` is empty).
  int get_many(const std::vector<std::string>& paths, std::vector<Read>& reads, size_t max_bytes);
  static constexpr size_t kReadWindow = 1000;
  // The znode's children, all of them: libzookeeper-mt reads a reply of any size (ZooKeeper's
  // jute.maxbuffer bounds requests, not this reply; 150,000 names of 20 bytes, 3.6 MB, are read
  // here), and holds the whole reply before it is copied. Callers bound what they take. `watch`
  // leaves a child watch.
  int children(const std::string& path, std::vector<std::string>& names, bool watch = false);
  int create(const std::string& path, const std::string& data, int flags,
             std::string* created = nullptr);
  int set(const std::string& path, const std::string& data, int version, Stat* stat = nullptr);
  int remove(const std::string& path, int version);
  // Applies `ops` atomically; on failure, `failed` is the index of the op that failed (-1 when
  // none is named) and the code is that op's error.
  int multi(const std::vector<Op>& ops, int* failed = nullptr);

  // Creates `path` and its missing ancestors as persistent znodes holding `data` (ZOK when
  // they all exist afterwards).
  int ensure_path(const std::string& path, const std::string& data = {});

 private:
  struct Hub;
  Session() = default;
  static void watcher(zhandle_t* handle, int type, int state, const char* path, void* context);
  int refuse_when_disconnected() const;

  std::unique_ptr<Hub> hub_;
  zhandle_t* handle_ = nullptr;
};

// What a ZooKeeper error code means, for messages: "connection loss".
std::string describe(int code);
// The name of a session state, for logs: "connected", "connecting", "expired".
std::string state_name(int state);

}  // namespace tessera::leader::zk
