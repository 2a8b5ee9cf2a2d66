/**
 * Known bots, crawlers, link previewers, monitors and HTTP tools. They are neither
 * redirected nor cookied: they do not keep cookies (each request would be a new visitor,
 * skewing the split), search engines must index the original URL, and their traffic must
 * not count as exposure. A missing user agent is treated as a bot.
 */
const BOT_PATTERN = new RegExp(
  [
    'bot\\b',
    'bot/',
    'crawl',
    'spider',
    'slurp',
    'mediapartners',
    'facebookexternalhit',
    'facebookcatalog',
    'embedly',
    'quora link preview',
    'whatsapp',
    'skypeuripreview',
    'bitlybot',
    'vkshare',
    'w3c_validator',
    'lighthouse',
    'pagespeed',
    'headlesschrome',
    'phantomjs',
    'puppeteer',
    'playwright',
    'pingdom',
    'uptimerobot',
    'statuscake',
    'datadog',
    'newrelicpinger',
    'site24x7',
    'curl/',
    'wget/',
    'python-requests',
    'python-urllib',
    'aiohttp',
    'go-http-client',
    'okhttp',
    'java/',
    'apache-httpclient',
    'node-fetch',
    'axios/',
    'undici',
    'libwww-perl',
    'httpie',
    'postmanruntime',
    'insomnia',
    'scrapy',
    'feedfetcher',
    'ia_archiver',
    'archive.org_bot',
  ].join('|'),
  'i',
);

/** True for user agents that must not be assigned. */
export function isBot(userAgent: string | undefined): boolean {
  if (userAgent === undefined || userAgent.trim().length === 0) return true;
  return BOT_PATTERN.test(userAgent);
}
