# git's clean filter for mage_project/pipelines/*/metadata.yaml (.gitattributes; registered by
# scripts/setup.sh). Mage rewrites a pipeline's metadata.yaml whenever a block runs in the UI,
# with run state: each block's status, whether its upstream ran, and the absolute variables_dir
# of this machine. The files are committed as Mage writes them after every block ran (the twin's
# Mage writes variables_dir: null, mage_runner/mage_site/sitecustomize.py), so a successful run leaves
# them byte for byte unchanged; this filter stores any other run state (a failed block, Mage
# started without the twin) in that form too, so `git diff` stays empty for it. (`git status`
# lists a file whose size changed until `git add`; a successful run changes no byte.)
s/^  status: (executed|failed|not_executed|updated|cancelled)$/  status: executed/
s/^- all_upstream_blocks_executed: (true|false)$/- all_upstream_blocks_executed: true/
s/^variables_dir: .*$/variables_dir: null/
# Mage writes a block's file_source path relative to the project; a hand-written entry relative
# to the repository (mage_project/...) is stored in Mage's form.
s#^(      path: )mage_project/#\1#
