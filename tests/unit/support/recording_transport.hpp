#pragma once

// A RegistryTransport for the registry client tests: records every request and answers from
// a queue of canned responses ("connection refused" once the queue is empty).

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/core/registry.hpp"

namespace stagegate::test {

class RecordingTransport final : public RegistryTransport {
 public:
  Result<RegistryResponse> Send(const RegistryRequest& request) override {
    requests.push_back(request);
    if (answers.empty()) return Fail(ErrorCode::kUnavailable, "connection refused");
    auto next = answers.front();
    answers.pop_front();
    return next;
  }
  void Answer(int status, std::string body) {
    answers.push_back(RegistryResponse{.status = status, .body = std::move(body)});
  }
  void AnswerTransportError() { answers.push_back(Fail(ErrorCode::kUnavailable, "timed out")); }

  std::vector<RegistryRequest> requests;
  std::deque<Result<RegistryResponse>> answers;
};

}  // namespace stagegate::test
