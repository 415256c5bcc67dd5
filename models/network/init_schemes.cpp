#include "models/network/init_schemes.h"

#include <cmath>
#include <vector>

#include "base/error.h"
#include "engine/rng.h"

namespace dnabert::models {

namespace {
constexpr int kSpecialTokens = 5;  // [PAD] [UNK] [CLS] [SEP] [MASK], then the k-mers
}

void compose_kmer_embeddings(Bert& model, int k, uint64_t seed) {
  const BertConfig& c = model.config();
  const int64_t H = c.hidden_size, kmers = int64_t{1} << (2 * k);
  if (c.vocab_size != kmers + kSpecialTokens)
    throw Error("composed k-mer embeddings: vocab_size " + std::to_string(c.vocab_size) + " is not 4^" +
                std::to_string(k) + " + 5");
  // E[j][b]: k positions x 4 bases x H, drawn from their own stream.
  std::vector<double> parts(static_cast<size_t>(k * 4 * H));
  engine::Rng rng(seed, engine::mix_stream(0xC0DE), 0);
  for (double& x : parts) x = rng.normal() * c.initializer_range;
  const double scale = 1.0 / std::sqrt(static_cast<double>(k));
  float* w = model.params().get("bert.embeddings.word_embeddings.weight").f32();
  for (int64_t id = 0; id < kmers; ++id) {
    float* row = w + (id + kSpecialTokens) * H;
    for (int64_t h = 0; h < H; ++h) {
      double s = 0;
      // The vocabulary's leftmost base is the most significant base-4 digit.
      for (int j = 0; j < k; ++j) {
        const int64_t base = (id >> (2 * (k - 1 - j))) & 3;
        s += parts[static_cast<size_t>((j * 4 + base) * H + h)];
      }
      row[h] = static_cast<float>(s * scale);
    }
  }
}

void sinusoidal_positions(Bert& model) {
  const BertConfig& c = model.config();
  const int64_t H = c.hidden_size, P = c.max_position_embeddings;
  const double amp = c.initializer_range * std::sqrt(2.0);
  float* w = model.params().get("bert.embeddings.position_embeddings.weight").f32();
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < H; ++i) {
      const double freq = std::pow(10000.0, -static_cast<double>(2 * (i / 2)) / static_cast<double>(H));
      const double a = static_cast<double>(p) * freq;
      w[p * H + i] = static_cast<float>(amp * (i % 2 == 0 ? std::sin(a) : std::cos(a)));
    }
}

void apply_init_schemes(Bert& model, int k, uint64_t seed, const std::string& embedding_init,
                        const std::string& position_init) {
  if (embedding_init == "composed")
    compose_kmer_embeddings(model, k, seed);
  else if (embedding_init != "normal")
    throw UsageError("--embedding-init: '" + embedding_init + "' is not one of normal, composed");
  if (position_init == "sinusoidal")
    sinusoidal_positions(model);
  else if (position_init != "normal")
    throw UsageError("--position-init: '" + position_init + "' is not one of normal, sinusoidal");
}

}  // namespace dnabert::models
