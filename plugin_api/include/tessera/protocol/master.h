// Messages every client of a master may receive, whatever it asked (agents, frameworks,
// operators).
//
// A master that is not leading answers every request it receives, and every one-way message,
// with NotLeader instead of ignoring it, so a client that reached a standby learns where to go
// at once rather than after its timeout. The reply carries the request's sequence number in
// `corr` (a one-way message has no pending request on the client's side: the client then meets
// it among pushed messages). sdk/master_detector.h follows it.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/message.h"

namespace tessera::protocol::master {

struct NotLeader {
  static constexpr const char* kType = "master.not_leader";
  static constexpr uint32_t kSchema = 1;
  // The leading master's endpoint (tcp://HOST:PORT), empty when this master does not know one
  // (an election is under way): the client then tries again later, or another master.
  std::string leader;
  std::string leader_id;  // the leading master's id, when known
  std::string master_id;  // the id of the master that answers
  // For humans: "not the leader; the leader is at tcp://10.0.0.2:5050".
  std::string message;
  TESSERA_MSGPACK_MAP(leader, leader_id, master_id, message);
};

// The text of NotLeader::message for `leader` ("" when unknown).
inline std::string not_leader_message(const std::string& leader) {
  return leader.empty() ? "not the leader; the leader is not known yet"
                        : "not the leader; the leader is at " + leader;
}

}  // namespace tessera::protocol::master
