from dify_plugin import DifyPluginEnv, Plugin

from gigachat_dify.redaction import install_log_filter

plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=300))
install_log_filter()

if __name__ == "__main__":
    plugin.run()
