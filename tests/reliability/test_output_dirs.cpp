// The commands that write a directory (convert, pretrain, finetune, motifs,
// split) destroy nothing they did not create, and one run at a time holds an
// output directory (io/formats/output_dir.h). Each case checks the exit code, that
// every file the user owns is byte for byte as before, and that the message
// names the path.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "io/formats/npy.h"
#include "io/formats/output_dir.h"
#include "tests/test_util.h"

using namespace dnabert;
using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {

const std::string kHfTiny = source_path("tests/fixtures/hf_tiny");
const std::string kLambda = source_path("tests/data/genomes/lambda_phage.fa.gz");

// Every file and folder below `root` (or the file `root`) with its bytes.
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> s;
  if (!fs::exists(fs::symlink_status(root))) return s;
  if (!fs::is_directory(root)) {
    s["."] = slurp(root);
    return s;
  }
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = fs::relative(e.path(), root).string();
    s[rel] = e.is_directory() ? "(folder)" : slurp(e.path().string());
  }
  return s;
}

// Writes `bytes` to `path`, making its folder.
std::string spit(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A copy of the HF checkpoint fixture (config.json, pytorch_model.bin, vocab.txt) at `dir`.
std::string hf_input(const std::string& dir) {
  fs::create_directories(dir);
  fs::copy(kHfTiny, dir, fs::copy_options::recursive);
  return dir;
}

// A folder of the user's: two files and a sub-folder.
std::string user_folder(const std::string& dir) {
  spit(dir + "/notes.txt", "my notes\n");
  spit(dir + "/sub/data.bin", std::string("\0\1\2", 3));
  return dir;
}


// The converted hf_tiny model (k = 3, hidden 8, 16 positions), made once.
const std::string& tiny_model() {
  static const std::string dir = [] {
    const std::string out = scratch_dir("tiny_model");
    const CliRun r = run_cli("convert --input " + kHfTiny + " --out " + out);
    REQUIRE_MESSAGE(r.status == 0, r.output);
    return out;
  }();
  return dir;
}

// Labelled CSV of short sequences (14 bases: 12 3-mers, 14 tokens with [CLS] and [SEP]).
std::string tiny_csv(const std::string& path) {
  std::string text = "sequence,label\n";
  for (int i = 0; i < 12; ++i)
    text += (i % 2 ? std::string("GGGGGG") : std::string("ACGTAC")) + std::string(8, "ACGT"[i % 4]) + "," +
            std::to_string(i % 2) + "\n";
  return spit(path, text);
}

// pretrain of a model with 8 hidden units, but for --steps and --out.
std::string pretrain_args(const std::string& fasta) {
  return "pretrain --fasta " + fasta + " --k 3 --config " + kHfTiny +
         "/config.json --max-len 16 --batch 2 --eval-batches 1";
}

// Each directory-writing command, but for --out, with its inputs in DIR/in
// (convert's is the fixture).
std::map<std::string, std::string> commands(const std::string& dir) {
  const std::string csv = tiny_csv(dir + "/in/data.csv"), atten = dir + "/in/atten.npy";
  io::write_npy(atten, engine::Tensor::from_vector({12, 14}, std::vector<float>(12 * 14, 0.5f)));
  const std::string fasta = dir + "/in/lambda.fa.gz";
  fs::copy_file(kLambda, fasta);
  const std::string pretrain = pretrain_args(fasta) + " --steps 2";
  return {{"convert", "convert --input " + kHfTiny},
          {"pretrain", pretrain},
          {"finetune", "finetune --init " + tiny_model() + " --train " + csv + " --dev " + csv +
                           " --epochs 1 --batch 4 --max-len 16"},
          {"motifs", "motifs --input " + csv + " --atten " + atten},
          {"split", "split --input " + csv}};
}

std::string lock_path(const std::string& out) { return fs::weakly_canonical(out).string() + ".lock"; }

}  // namespace

TEST_CASE("convert refuses a file at --out, and replaces it only with --overwrite") {
  const std::string dir = scratch_dir("file_out");
  const std::string in = hf_input(dir + "/hf");
  const std::string out = write_file("file_out/model", "a file of the user's\n");
  const auto before = snapshot(dir);
  const CliRun r = run_cli("convert --input " + in + " --out " + out);
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(has(r.output, "dnabert: error: --out " + out + ": exists and is not a directory"));
  CHECK(has(r.output, "--overwrite"));
  CHECK(snapshot(dir) == before);  // nothing beside it either: no lock file, no temporary directory

  const CliRun o = run_cli("convert --input " + in + " --out " + out + " --overwrite");
  INFO(o.output);
  CHECK(o.status == 0);
  CHECK(fs::is_directory(out));
  CHECK(fs::exists(out + "/model.safetensors"));
  CHECK(slurp(out + "/" + io::kOutputMarker) == "convert\n");
  CHECK(snapshot(in) == snapshot(kHfTiny));
  CHECK(!fs::exists(lock_path(out)));
}

TEST_CASE("convert refuses a non-empty folder it did not write, and replaces it only with --overwrite") {
  const std::string dir = scratch_dir("folder_out");
  const std::string in = hf_input(dir + "/hf");
  const std::string out = user_folder(dir + "/mine");
  const auto before = snapshot(dir);
  const CliRun r = run_cli("convert --input " + in + " --out " + out);
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(has(r.output, "dnabert: error: --out " + out + ": a non-empty directory with files dnabert convert did not "
                      "write (notes.txt, sub)"));
  CHECK(snapshot(dir) == before);
  // With a trailing slash: the same folder, the same answer.
  CHECK(run_cli("convert --input " + in + " --out " + out + "/").status == 2);
  CHECK(snapshot(dir) == before);

  const CliRun o = run_cli("convert --input " + in + " --out " + out + " --overwrite");
  INFO(o.output);
  CHECK(o.status == 0);
  CHECK(!fs::exists(out + "/notes.txt"));
  CHECK(fs::exists(out + "/model.safetensors"));
  CHECK(snapshot(in) == snapshot(kHfTiny));
}

TEST_CASE("convert never replaces the folder that holds --input, not even with --overwrite") {
  const std::string dir = scratch_dir("input_parent");
  const std::string in = hf_input(dir + "/hf");
  spit(dir + "/readme.txt", "the user's\n");
  const auto before = snapshot(dir);
  for (const char* flags : {"", " --overwrite"}) {
    CAPTURE(flags);
    for (const std::string& out : {dir, in}) {  // its parent, and --input itself
      CAPTURE(out);
      const CliRun r = run_cli("convert --input " + in + " --out " + out + std::string(flags));
      INFO(r.output);
      CHECK(r.status == 2);
      CHECK(has(r.output, "dnabert: error: --out " + out + " contains the input " + in));
      CHECK(snapshot(dir) == before);  // the source pytorch_model.bin survives
    }
  }
  CHECK(slurp(in + "/pytorch_model.bin") == slurp(kHfTiny + "/pytorch_model.bin"));
}

TEST_CASE("convert re-runs into its own output; a file added there by the user blocks it") {
  const std::string dir = scratch_dir("rerun");
  const std::string in = hf_input(dir + "/hf"), out = dir + "/model";
  for (int run = 0; run < 2; ++run) {
    const CliRun r = run_cli("convert --input " + in + " --out " + out);
    INFO(r.output);
    CHECK(r.status == 0);
  }
  // Without the marker, the same files are what any HF model folder holds: the user's, refused.
  fs::remove(out + "/" + io::kOutputMarker);
  const auto unmarked = snapshot(dir);
  const CliRun legacy = run_cli("convert --input " + in + " --out " + out);
  INFO(legacy.output);
  CHECK(legacy.status == 2);
  CHECK(has(legacy.output, "without dnabert's .dnabert-output marker"));
  CHECK(snapshot(dir) == unmarked);
  const CliRun forced = run_cli("convert --input " + in + " --out " + out + " --overwrite");
  INFO(forced.output);
  CHECK(forced.status == 0);
  CHECK(slurp(out + "/" + io::kOutputMarker) == "convert\n");
  // convert replaces the whole directory, so a file it did not write there stops it.
  spit(out + "/README.md", "my notes on this model\n");
  const auto before = snapshot(dir);
  const CliRun r = run_cli("convert --input " + in + " --out " + out);
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(has(r.output, "--out " + out + ": a non-empty directory with files dnabert convert did not write (README.md)"));
  CHECK(snapshot(dir) == before);
}

TEST_CASE("pretrain, finetune, motifs and split refuse a folder they did not write") {
  const std::string dir = scratch_dir("others");
  const auto cmds = commands(dir);
  const std::string mine = user_folder(dir + "/mine"), file = spit(dir + "/file.txt", "the user's\n");
  const std::string pretrained = dir + "/pretrained";  // a directory pretrain wrote
  const CliRun p = run_cli(cmds.at("pretrain") + " --out " + pretrained);
  REQUIRE_MESSAGE(p.status == 0, p.output);
  CHECK(slurp(pretrained + "/" + io::kOutputMarker) == "pretrain\n");
  for (const auto& [name, args] : cmds) {
    if (name == "convert") continue;  // the cases above
    CAPTURE(name);
    const auto before = snapshot(dir);
    CliRun r = run_cli(args + " --out " + mine);
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK(has(r.output, "dnabert: error: --out " + mine + ": a non-empty directory with files dnabert " + name +
                        " did not write (notes.txt, sub)"));
    r = run_cli(args + " --out " + file);
    CHECK(r.status == 2);
    CHECK(has(r.output, "--out " + file + ": exists and is not a directory"));
    if (name != "pretrain") {
      r = run_cli(args + " --out " + pretrained);
      CHECK(r.status == 2);
      CHECK(has(r.output, "--out " + pretrained + ": written by dnabert pretrain, not by dnabert " + name));
    }
    // The folder that holds the inputs, even with --overwrite.
    r = run_cli(args + " --out " + dir + "/in --overwrite");
    CHECK(r.status == 2);
    CHECK(has(r.output, "--out " + dir + "/in contains the input " + dir + "/in/"));
    CHECK(snapshot(dir) == before);
  }
  // With --overwrite a command writes into the folder and keeps what it does not write itself.
  const auto user_files = snapshot(mine);
  const CliRun r = run_cli(cmds.at("split") + " --out " + mine + " --overwrite");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(fs::exists(mine + "/train.csv"));
  for (const auto& [rel, bytes] : user_files) CHECK(snapshot(mine).at(rel) == bytes);
  CHECK(slurp(mine + "/" + io::kOutputMarker) == "split\n");
  // An empty folder is fine, and a command that fails early leaves no folder behind.
  fs::create_directories(dir + "/empty");
  CHECK(run_cli(cmds.at("split") + " --out " + dir + "/empty").status == 0);
  const std::string two = spit(dir + "/two.csv", "sequence,label\nACGTACGT,0\nTTTTGGGG,1\n");
  const CliRun bad = run_cli("split --input " + two + " --out " + dir + "/never");
  CHECK(bad.status == 1);
  CHECK(has(bad.output, "split would be empty"));
  CHECK(!fs::exists(dir + "/never"));
}

TEST_CASE("a run into an --out that another run holds fails at once, naming that process") {
  const std::string dir = scratch_dir("locked");
  const auto cmds = commands(dir);
  for (const auto& [name, args] : cmds) {
    CAPTURE(name);
    const std::string out = dir + "/out_" + name, lock = lock_path(out);
    const std::string holder = "pid " + std::to_string(::getpid()) + ": dnabert " + name + " (the test)\n";
    spit(lock, holder);
    const int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    const auto before = snapshot(dir);
    const CliRun r = run_cli(args + " --out " + out);
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(has(r.output, "dnabert: error: --out " + out + " is in use by another dnabert run (pid " +
                        std::to_string(::getpid()) + ": dnabert " + name + " (the test)), which holds " + lock));
    CHECK(snapshot(dir) == before);  // the holder's lock file too
    ::close(fd);
    // The holder gone, its lock file left behind (as after a kill): the next run goes ahead and removes it.
    const CliRun after = run_cli(args + " --out " + out);
    INFO(after.output);
    CHECK(after.status == 0);
    CHECK(!fs::exists(lock));
  }
  // A file of the lock's name that dnabert did not write is the user's.
  const std::string out = dir + "/out_split", lock = lock_path(out);
  spit(lock, "the user's\n");
  const auto before = snapshot(dir);
  const CliRun r = run_cli(cmds.at("split") + " --out " + out);
  CHECK(r.status == 2);
  CHECK(has(r.output, lock + " exists and is not a dnabert lock file"));
  CHECK(snapshot(dir) == before);
}

TEST_CASE("pretrain --resume and finetune update their own --out") {
  const std::string dir = scratch_dir("own");
  const auto cmds = commands(dir);
  const std::string out = dir + "/run";
  const std::string pretrain = pretrain_args(kLambda) + " --save-every 1";
  CliRun r = run_cli(pretrain + " --steps 2 --out " + out);
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = run_cli(pretrain + " --steps 3 --resume " + out + " --out " + out);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output, "resumed from " + out + "/checkpoint-2 at step 2"));
  CHECK(fs::exists(out + "/checkpoint-3"));
  // A run directory from a version before the marker.
  fs::remove(out + "/" + io::kOutputMarker);
  r = run_cli(pretrain + " --steps 4 --resume " + out + " --out " + out);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output, "at step 3"));
  CHECK(slurp(out + "/" + io::kOutputMarker) == "pretrain\n");
  CHECK(!fs::exists(lock_path(out)));

  // finetune twice into one folder, with a file of the user's added between: it stays.
  const std::string ft = dir + "/ft";
  r = run_cli(cmds.at("finetune") + " --out " + ft);
  INFO(r.output);
  REQUIRE(r.status == 0);
  spit(ft + "/notes.txt", "my notes\n");
  r = run_cli(cmds.at("finetune") + " --out " + ft);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(slurp(ft + "/notes.txt") == "my notes\n");
  CHECK(fs::exists(ft + "/best/model.safetensors"));
}

TEST_CASE("check_output_dir knows each command's names, and leftovers of a crashed write") {
  const std::string dir = scratch_dir("names");
  const auto folder = [&](const std::string& name, const std::vector<std::string>& entries) {
    const std::string d = dir + "/" + name;
    for (const std::string& e : entries)
      if (e.back() == '/') fs::create_directories(d + "/" + e);
      else spit(d + "/" + e, "x");
    return d;
  };
  const std::string run = folder("run", {"checkpoint-3/", "checkpoint-40.tmp.123/", "model.old.7/", "model/",
                                         "log.jsonl", "loss.svg.tmp.9"});
  CHECK_NOTHROW(io::check_output_dir(run, "pretrain", false, {}));
  const std::string foreign = "--out " + run + ": a non-empty directory with files dnabert finetune did not write "
                              "(checkpoint-3, checkpoint-40.tmp.123, loss.svg.tmp.9 and 2 more)";
  CHECK_THROWS_WITH_AS(io::check_output_dir(run, "finetune", false, {}), doctest::Contains(foreign.c_str()),
                       UsageError);
  CHECK_THROWS_AS(io::check_output_dir(folder("bad", {"checkpoint-x/"}), "pretrain", false, {}), UsageError);
  CHECK_NOTHROW(io::check_output_dir(folder("motifs", {"motif_TATAAAA_20.txt", "motif_TATAAAA_20_logo.svg",
                                                       "motifs.tsv", "motifs.meme", "candidates.tsv"}),
                                     "motifs", false, {}));
  CHECK_NOTHROW(io::check_output_dir(folder("ft", {"best/", "log.jsonl", "eval_results.json", "eval_results.tsv",
                                                   "confusion_matrix.txt"}),
                                     "finetune", false, {}));
  // A dataset folder without the marker is the user's, though split writes the same names.
  CHECK_THROWS_AS(io::check_output_dir(folder("split", {"train.csv", "dev.csv", "test.csv"}), "split", false, {}),
                  UsageError);
  // The marker of another command, and a missing --out (nothing to lose).
  const std::string marked = folder("marked", {".dnabert-output", "log.jsonl"});
  spit(marked + "/" + io::kOutputMarker, "finetune\n");
  const std::string other = "--dir " + marked + ": written by dnabert finetune, not by dnabert pretrain";
  CHECK_THROWS_WITH_AS(io::check_output_dir(marked, "pretrain", false, {}, "--dir"), doctest::Contains(other.c_str()),
                       UsageError);
  CHECK_NOTHROW(io::check_output_dir(dir + "/absent", "split", false, {}));
}
