// Split checks: the experiment name's syntax, the assignment cookie, and the
// variants (at least two, unique names, existing pools, weights with at
// least one above zero). The key and override syntax was checked by the reader.
#include <string>
#include <vector>

#include "proxy/config/validate.h"

namespace proxy::config {
namespace {

constexpr size_t kMinVariants = 2;

void checkVariants(const SplitSpec& split, const std::vector<std::string_view>& pools,
                   std::unordered_set<std::string_view>* used, Diagnostics& diags) {
  if (split.has_variants && split.variants.size() < kMinVariants) {
    diags.error(split.variants_loc, "a split needs at least " + std::to_string(kMinVariants) +
                                        " variants, got " + std::to_string(split.variants.size()));
  }
  std::vector<const Value<std::string>*> names;
  bool any_weight = false;
  bool all_weights = true;
  for (const SplitVariantSpec& variant : split.variants) {
    if (checkName(variant.name, "variant", diags)) names.push_back(&variant.name);
    checkPoolRef(variant.pool, pools, used, diags);
    const Value<uint64_t>& weight = variant.weight;
    all_weights = all_weights && weight.set;
    if (!weight.set) continue;
    if (weight.value > kMaxWeight) {
      diags.error(weight.loc, "must be between 0 and " + std::to_string(kMaxWeight) + ", got " +
                                  std::to_string(weight.value));
    }
    any_weight = any_weight || weight.value > 0;
  }
  checkUnique(names, "variant", diags);
  if (!split.variants.empty() && all_weights && !any_weight) {
    diags.error(split.variants_loc, "every variant has weight 0; at least one needs a weight "
                                    "above 0");
  }
}

} // namespace

void validateSplit(const SplitSpec& split, const std::vector<std::string_view>& pools,
                   std::unordered_set<std::string_view>* used, Diagnostics& diags) {
  checkCookieName(split.assign_cookie, diags);
  if (split.assign_cookie.set && split.key.set &&
      split.key.value.kind == KeySource::Kind::kClientIp) {
    diags.warning(split.assign_cookie.loc,
                  "assign_cookie is never set: the key client_ip is always present");
  }
  checkVariants(split, pools, used, diags);
}

} // namespace proxy::config
