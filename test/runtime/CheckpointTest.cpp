//===- CheckpointTest.cpp - Tests for runtime/Checkpoint.h ----------------===//

#include "runtime/Checkpoint.h"

#include "runtime/File.h"
#include "runtime/Optimizer.h"

#include "TestUtil.h"

#include <cstdio>
#include <filesystem>

using namespace colm;
using colm::test::smallConfig;
using colm::test::TempDir;

namespace {

TrainingState sampleState(const Model &m) {
  TrainingState s;
  s.step = 17;
  s.seed = 0xFFFFFFFFFFFFFFF0ull;
  s.samplerRng = {1, 0x8000000000000000ull, 0xDEADBEEFCAFEF00Dull, 0};
  OptimizerConfig oc;
  s.optimizer = Optimizer(oc, m.config, m.params, 0).stateTensors();
  s.args.set("optimizer", JsonValue::string("adamw"));
  s.args.set("lr", JsonValue::number(3e-4));
  s.args.set("batch", JsonValue::integer(8));
  return s;
}

int countEntries(const std::string &dir) {
  int n = 0;
  for (auto &e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

} // namespace

TEST(CheckpointTest, RoundTrip) {
  TempDir tmp;
  Model m = initModel(smallConfig({1, 1, 2}), 3);
  TrainingState s = sampleState(m);
  std::string dir = tmp.path("runs/ckpt"); // parents are created
  ASSERT_OK(saveCheckpoint(dir, m, s));
  for (const char *f : {"config.json", "model.safetensors", "tokenizer.json",
                        "training_state.json", "training_state.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  EXPECT_EQ(countEntries(tmp.path("runs")), 1); // no temporary left behind
  EXPECT_TRUE(isTrainingCheckpoint(dir));
  // It is a model directory too.
  ASSERT_OK(loadModel(dir));

  Result<Checkpoint> ck = loadCheckpoint(dir + "/");
  ASSERT_OK(ck);
  EXPECT_EQ(ck->model.config, m.config);
  for (const auto &[name, t] : m.params)
    EXPECT_EQ(ck->model.params.at(name).data, t.data) << name;
  EXPECT_EQ(ck->state.step, 17);
  EXPECT_EQ(ck->state.seed, s.seed);
  EXPECT_EQ(ck->state.samplerRng, s.samplerRng);
  ASSERT_EQ(ck->state.optimizer.size(), s.optimizer.size());
  for (const auto &[name, t] : s.optimizer)
    EXPECT_EQ(ck->state.optimizer.at(name).data, t.data);
  EXPECT_EQ(writeJson(ck->state.args), writeJson(s.args));
  EXPECT_EQ(ck->tokenizer.type(), "byte");
}

TEST(CheckpointTest, OverwriteSwapsWholeDirectoryAndKeepsExtraFiles) {
  TempDir tmp;
  Model m = initModel(smallConfig(), 3);
  TrainingState s = sampleState(m);
  std::string dir = tmp.path("ckpt");
  ASSERT_OK(saveCheckpoint(dir, m, s));
  ASSERT_OK(writeFileAtomic(dir + "/train.jsonl", "{\"step\": 1}\n"));
  Model m2 = initModel(smallConfig(), 4);
  s.step = 18;
  ASSERT_OK(saveCheckpoint(dir, m2, s));
  Result<Checkpoint> ck = loadCheckpoint(dir);
  ASSERT_OK(ck);
  EXPECT_EQ(ck->state.step, 18);
  EXPECT_EQ(ck->model.params.at("lm_head.weight").data,
            m2.params.at("lm_head.weight").data);
  EXPECT_EQ(*readFile(dir + "/train.jsonl"), "{\"step\": 1}\n");
  EXPECT_EQ(countEntries(tmp.str()), 1);
}

TEST(CheckpointTest, FailedSaveLeavesOldCheckpointIntact) {
  TempDir tmp;
  Model m = initModel(smallConfig(), 3);
  TrainingState s = sampleState(m);
  std::string dir = tmp.path("ckpt");
  ASSERT_OK(saveCheckpoint(dir, m, s));
  Result<std::string> before = readFile(dir + "/model.safetensors");
  ASSERT_OK(before);
  // A state whose args are not an object fails before anything is written...
  TrainingState badArgs = s;
  badArgs.args = JsonValue::array();
  EXPECT_ERROR(saveCheckpoint(dir, m, badArgs), "arguments");
  // ...and one that fails half-way (an optimizer tensor that cannot be
  // serialised: its data does not match its shape) leaves no trace.
  TrainingState badTensor = s;
  badTensor.optimizer["broken"].shape = {4};
  Status st = saveCheckpoint(dir, initModel(smallConfig(), 9), badTensor);
  EXPECT_FALSE(st.isOk());
  EXPECT_THAT(st.message(), ::testing::HasSubstr("cannot save checkpoint"));
  EXPECT_EQ(*readFile(dir + "/model.safetensors"), *before);
  EXPECT_EQ(countEntries(tmp.str()), 1);
  ASSERT_OK(loadCheckpoint(dir));
}

TEST(CheckpointTest, RecoversFromCrashBetweenRenames) {
  TempDir tmp;
  Model m = initModel(smallConfig(), 3);
  TrainingState s = sampleState(m);
  std::string dir = tmp.path("ckpt");
  ASSERT_OK(saveCheckpoint(dir, m, s));
  // Simulate a crash after "ckpt -> .ckpt.old" with a half-written temp.
  ASSERT_EQ(std::rename(dir.c_str(), tmp.path(".ckpt.old").c_str()), 0);
  ASSERT_OK(makeDirectories(tmp.path(".ckpt.tmp")));
  ASSERT_OK(writeFileAtomic(tmp.path(".ckpt.tmp/config.json"), "{"));
  EXPECT_TRUE(isTrainingCheckpoint(dir));
  Result<Checkpoint> ck = loadCheckpoint(dir);
  ASSERT_OK(ck);
  EXPECT_EQ(ck->state.step, 17);
  s.step = 20;
  ASSERT_OK(saveCheckpoint(dir, m, s));
  EXPECT_EQ(loadCheckpoint(dir)->state.step, 20);
  EXPECT_EQ(countEntries(tmp.str()), 1);
}

TEST(CheckpointTest, ClearErrors) {
  TempDir tmp;
  Model m = initModel(smallConfig(), 3);
  ASSERT_OK(saveModel(tmp.path("model"), m));
  EXPECT_ERROR(loadCheckpoint(tmp.path("model")), "model",
               "is a model, not a training checkpoint");
  EXPECT_FALSE(isTrainingCheckpoint(tmp.path("model")));
  EXPECT_ERROR(loadCheckpoint(tmp.path("nope")), "nope", "no such directory");

  // Refuses to replace a directory that is not a model directory.
  ASSERT_OK(makeDirectories(tmp.path("home")));
  ASSERT_OK(writeFileAtomic(tmp.path("home/notes.txt"), "mine"));
  EXPECT_ERROR(saveCheckpoint(tmp.path("home"), m, sampleState(m)),
               "refusing to replace", "not a model directory");
  EXPECT_EQ(*readFile(tmp.path("home/notes.txt")), "mine");
  ASSERT_OK(writeFileAtomic(tmp.path("file"), "x"));
  EXPECT_ERROR(saveCheckpoint(tmp.path("file"), m, sampleState(m)),
               "a file with that name exists");
  // A model directory can become a checkpoint.
  ASSERT_OK(saveCheckpoint(tmp.path("model"), m, sampleState(m)));

  std::string ck = tmp.path("ck");
  ASSERT_OK(saveCheckpoint(ck, m, sampleState(m)));
  ASSERT_EQ(std::remove((ck + "/training_state.safetensors").c_str()), 0);
  EXPECT_ERROR(loadCheckpoint(ck), "no training_state.safetensors");
  ASSERT_OK(saveCheckpoint(ck, m, sampleState(m)));
  ASSERT_OK(writeFileAtomic(ck + "/training_state.json",
                            "{\"format\": \"colm-training-state\", "
                            "\"version\": 1, \"step\": 3, \"seed\": \"-1\"}"));
  EXPECT_ERROR(loadCheckpoint(ck), "training_state.json", "\"seed\"");
}

TEST(CheckpointTest, ModelDirectoriesAreReplacedOnlyWhenAskedAndWhole) {
  TempDir tmp;
  Model m = initModel(smallConfig({1, 1, 2}), 3);
  std::string dir = tmp.path("model");
  ASSERT_OK(saveCheckpoint(dir, m, sampleState(m)));
  ASSERT_OK(writeFileAtomic(dir + "/train.jsonl", "{}\n"));
  // Without --force an existing model or checkpoint is kept, and the
  // message says which it is.
  Model other = initModel(smallConfig({1, 1, 2}), 4);
  EXPECT_ERROR(saveModelDirectory(dir, other, Tokenizer(), false),
               "already holds a training checkpoint", "--force");
  EXPECT_TRUE(isTrainingCheckpoint(dir));
  // With it, nothing of the old directory survives: no training state that
  // --resume would pick up with the new weights, no old log.
  ASSERT_OK(saveModelDirectory(dir, other, Tokenizer(), true));
  EXPECT_FALSE(isTrainingCheckpoint(dir));
  EXPECT_FALSE(std::filesystem::exists(dir + "/training_state.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/train.jsonl"));
  Result<Model> back = loadModel(dir);
  ASSERT_OK(back);
  EXPECT_EQ(back->params.at("lm_head.weight").data,
            other.params.at("lm_head.weight").data);
  EXPECT_EQ(countEntries(tmp.str()), 1); // no temporary or backup left
}

TEST(CheckpointTest, ForceNeverReplacesADirectoryOfOtherFiles) {
  TempDir tmp;
  ASSERT_OK(makeDirectories(tmp.path("home")));
  ASSERT_OK(writeFileAtomic(tmp.path("home/notes.txt"), "mine"));
  Model m = initModel(smallConfig(), 0);
  EXPECT_ERROR(saveModelDirectory(tmp.path("home"), m, Tokenizer(), true),
               "not a model directory");
  EXPECT_EQ(*readFile(tmp.path("home/notes.txt")), "mine");
  EXPECT_ERROR(checkModelDirectoryWritable(tmp.path("home/notes.txt"), true),
               "a file with that name exists");
  // An empty directory is fine.
  ASSERT_OK(makeDirectories(tmp.path("empty")));
  EXPECT_OK(saveModelDirectory(tmp.path("empty"), m, Tokenizer(), false));
}

TEST(CheckpointTest, ADirectoryHasOneWriter) {
  TempDir tmp;
  std::string dir = tmp.path("run");
  Result<DirectoryLock> first = DirectoryLock::acquire(dir, "colm train A");
  ASSERT_TRUE(first.isOk()) << first.status().message();
  // flock() locks belong to the open file, so a second acquire in this
  // process conflicts just as another process would.
  EXPECT_ERROR(DirectoryLock::acquire(dir + "/", "colm train B"),
               "is in use by pid", "colm train A");
  // Nor can a model be written there meanwhile (colm init --force while a
  // run trains into the directory).
  Model m = initModel(smallConfig(), 0);
  EXPECT_ERROR(saveModelDirectory(dir, m, Tokenizer(), true),
               "is in use by pid", "colm train A");
  {
    DirectoryLock moved = first.take();
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.path(".run.lock")));
  EXPECT_OK(saveModelDirectory(dir, m, Tokenizer(), true));
  // Released with its owner: the next run gets it.
  EXPECT_OK(DirectoryLock::acquire(dir, "colm train C"));
}
