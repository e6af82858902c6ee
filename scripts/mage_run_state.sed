# git's clean filter for mage_project/pipelines/*/metadata.yaml (.gitattributes; registered by
# scripts/setup.sh): Mage rewrites a pipeline's metadata.yaml whenever a block runs in the UI,
# with run state that is not the pipeline -- each block's status, whether its upstream ran, and
# the absolute variables_dir of this machine. git compares them in this committed form, so
# running blocks leaves `git status` clean; an edit the user makes still shows.
s/^  status: (executed|failed|not_executed|updated|cancelled)$/  status: updated/
s/^- all_upstream_blocks_executed: (true|false)$/- all_upstream_blocks_executed: true/
s/^variables_dir: .*$/variables_dir: null/
# Mage writes a block's file_source path relative to the project; a hand-written entry relative
# to the repository (mage_project/...) is stored in Mage's form.
s#^(      path: )mage_project/#\1#
