// HostSink: a CompletionSink for a host runtime that may stop taking results at any moment (an
// interpreter shutting down), and the payload each completion carries to its caller.
#pragma once
#include <vector>

#include "blt_core/serve/batch_engine.hpp"

namespace blt::serve {

// What a completion hands its caller: nothing (any status but ok), decoded bytes, the JSON text
// of the ids (json_only requests), or the ids themselves.
enum class Payload { none, bytes, json, ids };

inline Payload payload_of(const Completion& c) {
  if (c.status != Status::ok) return Payload::none;
  if (c.decoded) return Payload::bytes;
  if (!c.json.empty()) return Payload::json;
  return Payload::ids;
}

// deliver() hands each group to the host while it is alive. Once it is gone, only the id buffers
// are freed; everything else in the group (the tokenizer references the host owns) is left to the
// engine, since releasing it might need the host.
class HostSink : public CompletionSink {
 public:
  void deliver(std::vector<Completion>& done) final {
    if (!host_alive()) {
      for (auto& c : done) c.ids = IdBuffer();
      return;
    }
    hand_over(done);
  }

 protected:
  virtual bool host_alive() const = 0;
  // Called only while the host is alive, with every completion ready at that moment.
  virtual void hand_over(std::vector<Completion>& done) = 0;
};

}  // namespace blt::serve
