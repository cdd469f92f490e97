from dify_plugin import DifyPluginEnv, Plugin

from gigachat_dify.redaction import install_log_filter
from gigachat_dify.startup import libyaml_loading

with libyaml_loading():  # dify_plugin reads the manifest, provider and model YAMLs here
    plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=300))
install_log_filter()

if __name__ == "__main__":
    plugin.run()
