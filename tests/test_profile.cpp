// engine/profile.h: the per-op timer bench_train prints.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "engine/profile.h"

namespace profile = dnabert::engine::profile;

TEST_CASE("profile: scopes add calls and wall time only when enabled") {
  const bool was = profile::enabled();
  profile::reset();
  profile::set_enabled(false);
  { DNABERT_PROFILE_SCOPE("off"); }
  CHECK(profile::regions().empty());

  profile::set_enabled(true);
  for (int i = 0; i < 3; ++i) {
    DNABERT_PROFILE_SCOPE("slow");
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
  }
  { DNABERT_PROFILE_SCOPE("fast"); }
  const auto r = profile::regions();
  REQUIRE(r.size() == 2);
  CHECK(r[0].name == "slow");  // most time first
  CHECK(r[0].calls == 3);
  CHECK(r[0].seconds >= 0.012);
  CHECK(r[0].seconds < 5.0);
  CHECK(r[1].name == "fast");
  CHECK(r[1].calls == 1);
  CHECK(r[1].seconds < r[0].seconds);

  profile::reset();
  CHECK(profile::regions().empty());
  profile::set_enabled(was);
}
