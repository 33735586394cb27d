#include "orchestrator/core/outbox.hpp"

#include <array>
#include <utility>

namespace stagegate {
namespace {

constexpr std::array<std::pair<OutboxState, const char*>, 4> kStates{{
    {OutboxState::kPending, "pending"},
    {OutboxState::kSending, "sending"},
    {OutboxState::kDelivered, "delivered"},
    {OutboxState::kDead, "dead"},
}};

}  // namespace

const char* OutboxStateName(OutboxState state) {
  for (const auto& [s, name] : kStates) {
    if (s == state) return name;
  }
  return "pending";
}

std::optional<OutboxState> ParseOutboxState(const std::string& name) {
  for (const auto& [s, n] : kStates) {
    if (name == n) return s;
  }
  return std::nullopt;
}

}  // namespace stagegate
