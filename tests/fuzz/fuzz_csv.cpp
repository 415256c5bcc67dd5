// libFuzzer target for the labelled-table reader (io/data/dataset.h): DNABERT TSV
// and GUE CSV, plain or gzip. Byte 0 picks the options: bit 0 reads with a
// given label map (the dev/test path), bit 1 reads through read_dataset (the
// CLI's front door) instead of read_table. The rest is the file. Errors must
// surface as dnabert::Error; anything else (crash, other exception, leak, UB,
// hang) is a finding, and so is a dataset that breaks the checks below.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "io/data/dataset.h"
#include "tests/fuzz/fuzz_util.h"

using dnabert::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace dnabert::io;
  static dnabert::fuzz::TempFile file("fuzz_csv");
  const uint8_t control = data[0];
  const std::string& path = file.write(dnabert::fuzz::as_text(data + 1, size - 1));
  DatasetOptions options;
  if (control & 1) options.label_map = LabelMap::from_labels({"0", "1", "2"});
  try {
    const LabelledDataset ds = (control & 2) ? read_dataset({path}, options) : read_table(path, options);
    // What the readers promise: one label per example, every label an id of
    // the map, pairs complete, k-mer sentences of one valid k.
    check(ds.size() > 0 && ds.labels.size() == ds.size());
    check(ds.texts_b.empty() || ds.texts_b.size() == ds.size());
    check(ds.format != DatasetFormat::Fasta);
    check(detect_format(path) == ds.format);
    for (int32_t id : ds.labels) check(id >= 0 && static_cast<size_t>(id) < ds.label_map.size());
    for (const auto& text : ds.texts) check(!text.empty());
    const bool sentence = ds.input == dnabert::tokenizer::Input::Sentence;
    check(sentence ? ds.sentence_k >= dnabert::tokenizer::kMinK && ds.sentence_k <= dnabert::tokenizer::kMaxK
                   : ds.sentence_k == 0);
    if (options.label_map) check(ds.label_map == *options.label_map);
    // finetune saves the map as label_map.json and evaluation reads it back.
    check(LabelMap::from_json(ds.label_map.to_json()) == ds.label_map);
  } catch (const dnabert::Error&) {
  }
  return 0;
}
