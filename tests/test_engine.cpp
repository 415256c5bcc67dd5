// engine/: tensors and views, the caching arena, the Philox generator, the tape.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "engine/arena.h"
#include "engine/param_set.h"
#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/tensor.h"
#include "ops/ops.h"

using namespace dnabert;
using namespace dnabert::engine;

TEST_CASE("views share storage and copy nothing when the layout allows") {
  Tensor t = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor r = t.reshape({3, 2});
  CHECK(r.raw() == t.raw());
  CHECK(r.shape() == Dims{3, 2});
  CHECK(t.reshape({-1}).shape() == Dims{6});

  Tensor tr = t.transpose(0, 1);
  CHECK(tr.raw() == t.raw());
  CHECK(tr.shape() == Dims{3, 2});
  CHECK(tr.strides() == Dims{1, 3});
  CHECK_FALSE(tr.is_contiguous());
  CHECK(tr.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  // Reshaping a transposed view must copy; the result is then contiguous.
  Tensor trr = tr.reshape({6});
  CHECK(trr.raw() != t.raw());
  CHECK(trr.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});

  Tensor s = t.slice(1, 1, 3);
  CHECK(s.shape() == Dims{2, 2});
  CHECK(static_cast<float*>(s.raw()) == t.f32() + 1);
  CHECK(s.to_vector() == std::vector<float>{1, 2, 4, 5});
  CHECK_THROWS_WITH_AS(s.fill(9.0f), "fill: tensor must be contiguous, got strides [3, 1]", ShapeError);
}

TEST_CASE("view errors name the shapes") {
  Tensor t = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH_AS(t.reshape({4, 2}), "reshape: cannot reshape [2, 3] to [4, 2]", ShapeError);
  CHECK_THROWS_WITH_AS(t.slice(1, 2, 5), "slice: [2, 5) out of range for dim 1 of [2, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(t.transpose(0, 2), "transpose: dims 0, 2 out of range for [2, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(Tensor::zeros({2}, nullptr, DType::I32).f32(), "Tensor: expected f32, tensor is i32 [2]",
                       ShapeError);
}

TEST_CASE("dtype is carried, bf16 storage has its size") {
  CHECK(dtype_size(DType::F32) == 4);
  CHECK(dtype_size(DType::BF16) == 2);
  Tensor b = Tensor::empty({3, 4}, nullptr, DType::BF16);
  CHECK(b.dtype() == DType::BF16);
  CHECK(b.str() == "bf16 [3, 4]");
  CHECK(b.storage()->bytes() == 24);
}

TEST_CASE("arena: a second identical step is served entirely from the cache") {
  Arena arena;
  auto step = [&] {
    Tensor a = Tensor::empty({1000, 256}, &arena);   // 1 MB
    Tensor b = Tensor::empty({3000, 1024}, &arena);  // 12 MB: huge-page path
    Tensor c = Tensor::empty({17}, &arena);
  };
  step();
  ArenaStats first = arena.stats();
  CHECK(first.allocations == 3);
  CHECK(first.cache_hits == 0);
  CHECK(first.in_use_bytes == 0);
  step();
  ArenaStats second = arena.stats();
  CHECK(second.allocations == 6);
  CHECK(second.cache_hits == 3);                           // nothing new from the OS
  CHECK(second.reserved_bytes == first.reserved_bytes);  // so no new page faults
  CHECK(second.peak_bytes == first.peak_bytes);
  CHECK(second.peak_bytes >= size_t{1000} * 256 * 4 + size_t{3000} * 1024 * 4);
  arena.trim();
  CHECK(arena.stats().reserved_bytes == 0);
}

TEST_CASE("arena: big blocks are 2 MiB aligned, size classes waste at most 25%") {
  Arena arena;
  void* p = arena.allocate(5 << 20);
  CHECK(reinterpret_cast<uintptr_t>(p) % Arena::kHugePageBytes == 0);
  arena.release(p, 5 << 20);
  void* q = arena.allocate(100);
  CHECK(reinterpret_cast<uintptr_t>(q) % 64 == 0);
  arena.release(q, 100);
  for (size_t n : {size_t{1}, size_t{4097}, size_t{100000}, size_t{1} << 20, (size_t{3} << 20) + 1}) {
    size_t c = Arena::size_class(n);
    CHECK(c >= n);
    const bool tight = static_cast<double>(c) <= 1.25 * static_cast<double>(n) + 64 || c - n < Arena::kHugePageBytes;
    CHECK(tight);
  }
}

TEST_CASE("tensors without an arena: big blocks are 2 MiB aligned (huge pages), small ones 64-byte aligned") {
  // The parameters, gradients and Adam moments are such tensors.
  Tensor big = Tensor::zeros({(int64_t{3} << 20) / 4 + 5});  // just over 3 MiB
  CHECK(reinterpret_cast<uintptr_t>(big.f32()) % Arena::kHugePageBytes == 0);
  std::vector<float> v = big.to_vector();
  CHECK(std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; }));
  big.f32()[big.numel() - 1] = 7.0f;
  CHECK(big.to_vector().back() == 7.0f);
  Tensor small = Tensor::full({1000}, 3.0f);
  CHECK(reinterpret_cast<uintptr_t>(small.f32()) % Arena::kAlignment == 0);
  CHECK(small.to_vector()[999] == 3.0f);
}

TEST_CASE("arena: tensors may outlive the arena object") {
  Tensor survivor;
  {
    Arena arena;
    survivor = Tensor::full({1000}, 2.0f, &arena);
  }
  CHECK(survivor.to_vector()[999] == 2.0f);
}

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors") {
  Philox4x32 a = philox4x32_10(0, 0, 0, 0, 0, 0);
  CHECK(a.v[0] == 0x6627e8d5u);
  CHECK(a.v[1] == 0xe169c58du);
  CHECK(a.v[2] == 0xbc57ac4cu);
  CHECK(a.v[3] == 0x9b00dbd8u);
  Philox4x32 b = philox4x32_10(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu);
  CHECK(b.v[0] == 0x408f276du);
  CHECK(b.v[1] == 0x41c83b0eu);
  CHECK(b.v[2] == 0xa20bc7c6u);
  CHECK(b.v[3] == 0x6d5451fdu);
  Philox4x32 c = philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  CHECK(c.v[0] == 0xd16cfe09u);
  CHECK(c.v[1] == 0x94fdcceb);
  CHECK(c.v[2] == 0x5001e420u);
  CHECK(c.v[3] == 0x24126ea1u);
}

TEST_CASE("Rng: keyed by seed, stream and counter") {
  Rng a(7, 1), b(7, 1), c(7, 2), d(8, 1);
  std::vector<uint32_t> va, vb, vc, vd;
  for (int i = 0; i < 100; ++i) va.push_back(a.next_u32()), vb.push_back(b.next_u32()), vc.push_back(c.next_u32()),
                                vd.push_back(d.next_u32());
  CHECK(va == vb);
  CHECK(va != vc);
  CHECK(va != vd);
  // Jumping to a counter gives the same value as walking to it.
  Rng e(7, 1, 57);
  CHECK(e.next_u32() == va[57]);
  // normal() is Box-Muller on two uniform_double()s, whether its 4 words are
  // one Philox block (counter 4j) or straddle two (counter 4j + 2).
  for (uint64_t start : {uint64_t{40}, uint64_t{42}}) {
    Rng z(7, 1, start), u(7, 1, start);
    const double u1 = u.uniform_double(), u2 = u.uniform_double();
    const double want = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    const double got = z.normal();
    CHECK(std::memcmp(&got, &want, sizeof got) == 0);
    CHECK(z.counter() == start + 4);
  }
  // below(n) is uniform-ish and in range; normal() has mean ≈ 0 and variance ≈ 1.
  Rng r(1, 2);
  std::vector<int> hist(5);
  double s = 0, s2 = 0;
  for (int i = 0; i < 50000; ++i) {
    uint64_t k = r.below(5);
    REQUIRE(k < 5);
    ++hist[k];
    double z = r.normal();
    s += z, s2 += z * z;
  }
  for (int h : hist) CHECK(std::abs(h - 10000) < 500);  // sd ≈ 89
  CHECK(std::abs(s / 50000) < 0.03);                     // sd of the mean ≈ 0.0045
  CHECK(std::abs(s2 / 50000 - 1.0) < 0.05);
}

TEST_CASE("tape: gradients accumulate into parameters, intermediates are freed") {
  ParamSet params;
  size_t iw = params.declare("w", {3, 2});
  size_t ib = params.declare("b", {3});
  params.finalize();
  CHECK(params.numel() == 32);  // each parameter starts on a 16-float boundary
  Tensor w = params[iw], b = params[ib];
  for (int i = 0; i < 6; ++i) w.f32()[i] = 0.1f * static_cast<float>(i + 1);
  Tensor x = Tensor::from_vector({1, 2}, {1.0f, -2.0f});
  Arena arena;
  for (int round = 1; round <= 2; ++round) {
    Tape tape(arena);
    Tensor y = ops::linear(tape, x, w, b);
    CHECK(tape.size() == 1);
    tape.backward(ops::mse_loss(tape, y, Tensor::zeros({1, 3})));
    CHECK(tape.size() == 0);
    // y = [0.1-0.4, 0.3-0.8, 0.5-1.2] = [-0.3, -0.5, -0.7]; dL/dy = 2y/3; dL/db = dL/dy.
    auto gb = b.grad().to_vector();
    CHECK(gb[0] == doctest::Approx(round * 2 * -0.3 / 3));
    CHECK(gb[2] == doctest::Approx(round * 2 * -0.7 / 3));
    // dL/dw[o, i] = dL/dy[o] x[i]
    CHECK(w.grad().to_vector()[1] == doctest::Approx(round * 2 * -0.3 / 3 * -2.0));
    // The parameter gradient is a view into the flat gradient buffer.
    CHECK(params.grads().f32()[16] == gb[0]);
  }
  params.zero_grad();
  CHECK(b.grad().to_vector()[0] == 0.0f);
  ArenaStats st = arena.stats();
  CHECK(st.in_use_bytes == 0);  // every activation and intermediate gradient went back
}

TEST_CASE("inference mode records nothing and frees intermediates early") {
  Arena arena;
  Tensor x = Tensor::full({256, 256}, 0.5f);
  x.set_requires_grad(true);
  Tape tape(arena, Tape::Mode::Inference);
  Tensor y = x;
  for (int i = 0; i < 10; ++i) y = ops::gelu(tape, y);
  CHECK(tape.size() == 0);
  CHECK_FALSE(y.requires_grad());
  // Only the last output and at most one intermediate are alive at a time.
  CHECK(arena.stats().peak_bytes <= 2 * 256 * 256 * 4);
  CHECK(arena.stats().in_use_bytes == 256 * 256 * 4);
}

TEST_CASE("ParamSet errors") {
  ParamSet p;
  p.declare("a", {2});
  CHECK_THROWS_WITH_AS(p.declare("a", {3}), "ParamSet: parameter 'a' declared twice", Error);
  p.finalize();
  CHECK_THROWS_WITH_AS(p.get("b"), "ParamSet: no parameter named 'b'", Error);
}
