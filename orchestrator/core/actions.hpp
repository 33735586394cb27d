#pragma once

#include <string>
#include <vector>

namespace stagegate {

/// A built-in action a task can name in `uses:`.
struct ActionInfo {
  std::string name;                 // e.g. registry.approve_transition
  std::vector<std::string> inputs;  // the `with:` keys it accepts
  bool available = true;            // false: announced, not in this version yet
};

/// Every built-in action, registry actions first.
const std::vector<ActionInfo>& BuiltinActions();
/// The action named `name`, or nullptr.
const ActionInfo* FindAction(const std::string& name);
/// True for the registry.* actions (run by the registry action runner).
bool IsRegistryAction(const std::string& name);

}  // namespace stagegate
